"""A throw-away local stack (`make dev`'s code) for benchmarks: free ports, temp state, S3 route."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev.ctl import kill

from bench.common import ROOT, bench_env, say

TOKEN = "dev-token"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BenchStack:
    """A running stack: where it listens and the environment the CLI needs."""

    state_dir: Path
    api_url: str
    aws_endpoint: str
    env: dict[str, str]
    stack: dict[str, Any]

    @property
    def bucket(self) -> str:
        """The artifacts bucket (notifications go to the verifier's queue)."""
        return str(self.stack["bucket"])

    @property
    def log(self) -> Path:
        """The stack's log (uvicorn's access log, moto's object writes, the pump)."""
        return self.state_dir / "dev.log"

    def service_env(self) -> dict[str, str]:
        """What a Lambda handler process needs to reach this stack's resources."""
        from localdev.stack import LocalStack

        local = LocalStack.read(self.state_dir / "stack.json")
        return bench_env(
            {
                **FAKE_AWS,
                **local.service_environment(),
                "ARTIFACTSTORE_API_URL": self.api_url,
                "ARTIFACTSTORE_LOCAL_STORAGE_DIR": str(self.state_dir / "storage"),
                "ARTIFACTSTORE_STORAGE_BACKEND_ROUTES": "*:*=s3",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "PYTHONPATH": str(ROOT),
            }
        )

    def s3(self) -> Any:
        """A boto3 S3 client on the stack's moto."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@contextlib.contextmanager
def running_stack(routes: str = "*:*=s3") -> Iterator[BenchStack]:
    """The local stack in the background, state in a temp dir; killed and wiped afterwards."""
    state_dir = Path(tempfile.mkdtemp(prefix="artifactstore-bench-stack-"))
    api_url = f"http://127.0.0.1:{free_port()}"
    env = bench_env(
        {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "STATE_HUB_", "ARTIFACTSTORE_"))
        }
    )
    env.update(
        ARTIFACTSTORE_LOCALDEV_DIR=str(state_dir),
        ARTIFACTSTORE_LOCAL_STORAGE_DIR=str(state_dir / "storage"),
        ARTIFACTSTORE_LOCAL_AWS_PORT=str(free_port()),
        ARTIFACTSTORE_LOCAL_STATEHUB_PORT=str(free_port()),
        ARTIFACTSTORE_API_URL=api_url,
        ARTIFACTSTORE_API_TOKEN=TOKEN,
        ARTIFACTSTORE_STORAGE_BACKEND_ROUTES=routes,
        # The state is thrown away: no autosave pickling gigabytes mid-measurement, no
        # maintenance rounds adding noise.
        ARTIFACTSTORE_LOCAL_AUTOSAVE_SECONDS="86400",
        ARTIFACTSTORE_LOCAL_SCHEDULE_SECONDS="86400",
    )
    say(f"starting the local stack (state in {state_dir})")
    started = subprocess.run(
        [sys.executable, "-m", "localdev.dev", "--background", "--timeout", "240"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        if started.returncode != 0:
            raise RuntimeError(f"the local stack did not start:\n{started.stdout}{started.stderr}")
        info = json.loads((state_dir / "dev.json").read_text())
        stack = json.loads((state_dir / "stack.json").read_text())
        yield BenchStack(state_dir, api_url, info["aws_endpoint"], env, stack)
    finally:
        kill(state_dir)  # saving gigabytes of state would be waste
        shutil.rmtree(state_dir, ignore_errors=True)
