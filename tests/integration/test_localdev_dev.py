"""``make dev`` as a whole: background start, restart keeping state, nothing left listening."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from localdev.config import DevConfig, load_env
from localdev.migrate_fresh import wipe

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _json(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status), json.loads(answer.read())


class Dev:
    """Runs ``python -m localdev.dev`` commands with the stack's ports and state in a temp dir."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.aws, self.api, self.hub = _free_port(), _free_port(), _free_port()
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STATE_HUB_URL"))
        }
        self.env.update(
            ARTIFACTSTORE_LOCALDEV_DIR=str(state_dir),
            ARTIFACTSTORE_LOCAL_STORAGE_DIR=str(state_dir / "storage"),
            ARTIFACTSTORE_LOCAL_AWS_PORT=str(self.aws),
            ARTIFACTSTORE_LOCAL_STATEHUB_PORT=str(self.hub),
            ARTIFACTSTORE_API_URL=f"http://127.0.0.1:{self.api}",
        )

    def run(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", module, *args]
        return subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180
        )

    def s3(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.aws}", region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    runner = Dev(tmp_path / "localdev")
    yield runner
    runner.run("localdev.dev", "stop")


def test_restart_keeps_state_and_stop_leaves_nothing_listening(dev: Dev) -> None:
    started = dev.run("localdev.dev", "--background", "--timeout", "120")
    assert started.returncode == 0, started.stderr + (dev.state_dir / "dev.log").read_text()
    hub = f"http://127.0.0.1:{dev.hub}/progress/"
    assert _json(f"http://127.0.0.1:{dev.api}/health")[0] == 200
    status, created = _json(hub, {"event_type": "artifact_link", "summary": "one"})
    assert status == 201
    stack = json.loads((dev.state_dir / "stack.json").read_text())
    dev.s3().put_object(Bucket=stack["bucket"], Key="blobs/kept", Body=b"kept bytes")

    refused = dev.run("localdev.migrate_fresh")
    assert refused.returncode == 1
    assert "is running" in refused.stderr
    assert (dev.state_dir / "stack.json").exists()

    stopped = dev.run("localdev.dev", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not any(_listening(port) for port in (dev.aws, dev.api, dev.hub))
    assert not (dev.state_dir / "dev.pid").exists()

    again = dev.run("localdev.dev", "--background", "--timeout", "120")
    assert again.returncode == 0, again.stderr
    body = dev.s3().get_object(Bucket=stack["bucket"], Key="blobs/kept")["Body"].read()
    assert body == b"kept bytes"
    _, listed = _json(hub)
    assert [event["id"] for event in listed["items"]] == [created["id"]]
    assert dev.run("localdev.dev", "stop").returncode == 0

    wiped = dev.run("localdev.migrate_fresh")
    assert wiped.returncode == 0, wiped.stderr
    assert not dev.state_dir.exists()


def test_second_dev_refuses_while_one_runs(dev: Dev) -> None:
    assert dev.run("localdev.dev", "--background", "--timeout", "120").returncode == 0
    second = dev.run("localdev.dev")
    assert second.returncode == 2
    assert "already running" in second.stderr
    assert _json(f"http://127.0.0.1:{dev.api}/health")[0] == 200


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "ARTIFACTSTORE_LOCAL_AWS_PORT=1111\nARTIFACTSTORE_LOCAL_STATEHUB_PORT=2222\n"
    )
    monkeypatch.setenv("ARTIFACTSTORE_LOCAL_AWS_PORT", "3333")
    monkeypatch.delenv("ARTIFACTSTORE_LOCAL_STATEHUB_PORT", raising=False)
    load_env(tmp_path)
    config = DevConfig.from_env(tmp_path)
    assert (config.aws_port, config.statehub_port) == (3333, 2222)


def test_migrate_fresh_refuses_while_the_pid_file_names_a_live_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_LOCALDEV_DIR", str(tmp_path / "state"))
    config = DevConfig.from_env(tmp_path)
    config.state_dir.mkdir()
    (config.state_dir / "dev.pid").write_text(f"{os.getpid()}\n")
    assert wipe(config) is False
    assert config.state_dir.exists()
    (config.state_dir / "dev.pid").write_text("999999999\n")  # stale: no such process
    assert wipe(config) is True
    assert not config.state_dir.exists()
