"""The local stack (``localdev``) for end-to-end tests: free ports, state in a temp dir.

One stack per session, started with ``python -m localdev.dev --background`` exactly as a person
would, and stopped at the end. Guide-board release evidence goes to S3 (moto), everything else to
the local backend, so both backends are driven by the tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from localdev.ctl import kill

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "artifactstore"
SCHEMA = ROOT / "schemas" / "guide-board.run.v1.json"
MULTIPART_THRESHOLD = (
    5 * 1024**2
)  # the smallest S3 allows, so a test file of a few MiB is multipart


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running local stack and the environment the CLI needs to reach it."""

    state_dir: Path
    api_url: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        """Where the stack's processes log (uvicorn's access log and moto's object writes)."""
        return self.state_dir / "dev.log"

    def upload_puts(self, package_id: str) -> int:
        """PUTs of upload bytes for one package that reached storage (local or S3), per the log."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return sum(
            1 for line in text.splitlines() if "PUT" in line and f"uploads/{package_id}" in line
        )

    def cli(
        self, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``artifactstore`` executable against this stack."""
        return subprocess.run(
            [str(CLI), *map(str, args)],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )

    def popen(self, *args: str | Path) -> subprocess.Popen[str]:
        """Start the CLI without waiting for it."""
        return subprocess.Popen(
            [str(CLI), *map(str, args)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )


def _dev(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localdev.dev", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@contextmanager
def running_stack(state_dir: Path) -> Iterator[Stack]:
    """A local stack on free ports with its state in ``state_dir``, stopped on exit."""
    api_url = f"http://127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STATE_HUB_"))}
    env.update(
        ARTIFACTSTORE_LOCALDEV_DIR=str(state_dir),
        ARTIFACTSTORE_LOCAL_STORAGE_DIR=str(state_dir / "storage"),
        ARTIFACTSTORE_LOCAL_AWS_PORT=str(_free_port()),
        ARTIFACTSTORE_LOCAL_STATEHUB_PORT=str(_free_port()),
        ARTIFACTSTORE_API_URL=api_url,
        ARTIFACTSTORE_API_TOKEN="dev-token",
        ARTIFACTSTORE_STORAGE_BACKEND_ROUTES="guide-board:release-evidence=s3,*:*=local",
        ARTIFACTSTORE_MULTIPART_THRESHOLD=str(MULTIPART_THRESHOLD),
        ARTIFACTSTORE_CLIENT_RETRIES="3",
        # No autosave mid-test: pickling the state of a 100,000-file package every 30 s took CPU
        # from the tests; the stack still saves once when it stops.
        ARTIFACTSTORE_LOCAL_AUTOSAVE_SECONDS="86400",
        # the linker (EventBridge path) posts to the stack's State Hub stand-in
        STATE_HUB_WORKSTREAM_ID="701c4d8c-5cf4-4a4a-ab60-1dcae53fe771",
        STATE_HUB_TASK_ID="bffa3573-4a1f-4c12-8c73-6d55bd8f6297",
    )
    started = _dev(env, "--background", "--timeout", "180")
    if started.returncode != 0:
        log = state_dir / "dev.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        pytest.fail(f"the local stack did not start:\n{started.stdout}{started.stderr}\n{tail}")
    try:
        yield Stack(state_dir, api_url, env)
    finally:
        # Killed, not stopped: nothing of a test stack is kept, so it is not saved (``stop``
        # pickles the whole state first: 20 s under load once a 100,000-file package is in
        # it). Stopping and saving are tested in tests/integration/test_localdev_dev.py.
        kill(state_dir)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack on free ports, or a skip when the ``localdev`` package is missing."""
    if importlib.util.find_spec("localdev.dev") is None:
        pytest.skip("local stack not available (the localdev package is missing)")
    with running_stack(tmp_path_factory.mktemp("localdev")) as started:
        yield started


def offline_digest(stack: Stack, run: Path) -> str:
    """The manifest digest ``guide-board manifest`` computes without the service."""
    done = stack.cli("guide-board", "manifest", run, "--schema", SCHEMA)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["manifest_digest"])


def finalized_run(run: Path, prefix: str) -> str:
    """Make ``run`` a finalized guide-board run directory (``run.json``); returns its run id."""
    run_id = f"{prefix}-{uuid.uuid4()}"
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text(
        json.dumps(
            {
                "run_id": run_id,
                "target_profile_ref": "t",
                "assessment_profile_ref": "a",
                "result_status": "passed",
            }
        )
    )
    return run_id
