"""Where the local stack listens and keeps its state, read from the environment after ``.env``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


def load_env(root: Path) -> None:
    """Read ``root/.env`` into the environment; variables already set win."""
    from dotenv import load_dotenv

    load_dotenv(root / ".env", override=False)


@dataclass(frozen=True)
class DevConfig:
    """Where everything listens and lives; read from the environment (after ``.env``)."""

    root: Path
    state_dir: Path
    aws_port: int
    api_host: str
    api_port: int
    statehub_port: int
    schedule_seconds: float
    autosave_seconds: float
    api_app: str

    @classmethod
    def from_env(cls, root: Path) -> DevConfig:
        """Defaults: moto on 4566, API on 127.0.0.1:8000, stand-in on 8001, state in .localdev."""
        api = urlsplit(os.environ.get("ARTIFACTSTORE_API_URL") or "http://127.0.0.1:8000")
        env = os.environ.get
        return cls(
            root=root,
            state_dir=root / env("ARTIFACTSTORE_LOCALDEV_DIR", ".localdev"),
            aws_port=int(env("ARTIFACTSTORE_LOCAL_AWS_PORT", "4566")),
            api_host=api.hostname or "127.0.0.1",
            api_port=api.port or 8000,
            statehub_port=int(env("ARTIFACTSTORE_LOCAL_STATEHUB_PORT", "8001")),
            schedule_seconds=float(env("ARTIFACTSTORE_LOCAL_SCHEDULE_SECONDS", "60")),
            autosave_seconds=float(env("ARTIFACTSTORE_LOCAL_AUTOSAVE_SECONDS", "30")),
            api_app=env("ARTIFACTSTORE_LOCAL_API_APP", "localdev.api_app:create_local_app"),
        )

    @property
    def api_url(self) -> str:
        """Where the API answers."""
        return f"http://{self.api_host}:{self.api_port}"

    def path(self, name: str) -> Path:
        """A file under the state directory."""
        return self.state_dir / name
