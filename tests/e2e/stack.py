"""The pilot tests' stack: ``make dev`` itself, on the guide's ports, started as a person would.

The guide's commands run as shell snippets in a view of the checkout (symlinks, so its own
``cp .env.example .env`` touches no one's ``.env``), with ``.venv/bin`` first on PATH as in an
activated virtualenv. The stack is ``make dev`` itself, on the guide's ports (8000 for the API,
8001 for the State Hub stand-in; a test skips when either is taken), with its state in a temp
dir (``ARTIFACTSTORE_LOCALDEV_DIR``). The guide's step 1 (a real guide-board run) is replaced by
the demo's realistic run directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest
import rfc8785
from localdev.demo_run import RUN_JSON, build_run

__all__ = [
    "API",
    "HUB",
    "ROOT",
    "RUN_JSON",
    "SWAP_ROUTES",
    "TASK",
    "WORKSTREAM",
    "Guide",
    "checkout_view",
    "expected_manifest",
    "get_json",
    "guide_run",
    "make_dev",
]

ROOT = Path(__file__).resolve().parents[2]
API = "http://127.0.0.1:8000"
HUB = "http://127.0.0.1:8001"
WORKSTREAM = "701c4d8c-5cf4-4a4a-ab60-1dcae53fe771"
TASK = "bffa3573-4a1f-4c12-8c73-6d55bd8f6297"
SWAP_ROUTES = "guide-board:release-evidence=s3,*:*=local"
_NOT_LINKED = {".env", ".localdev", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def port_taken(port: int) -> bool:
    """True when something listens on the loopback port."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    """GET a JSON answer with the dev token."""
    request = urllib.request.Request(url, headers={"Authorization": "Bearer dev-token"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@dataclass
class Guide:
    """A checkout view, its environment, and the shell the guide's steps run in."""

    checkout: Path
    state_dir: Path
    env: dict[str, str]

    def sh(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run guide lines in bash from the checkout; fail on the first failing line."""
        return subprocess.run(
            ["bash", "-eu", "-o", "pipefail", "-c", script],
            cwd=self.checkout,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, script: str) -> str:
        """``sh`` that must succeed; its stdout."""
        done = self.sh(script)
        assert done.returncode == 0, f"{script}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        return done.stdout


def checkout_view(tmp_path: Path, **extra_env: str) -> Guide:
    """The checkout as symlinks under ``tmp_path`` and a clean environment for the guide."""
    # The view shares the real .venv: bring it up to date from the real checkout first, so a
    # `make` in the view never reinstalls into it (that would write the view's temporary path
    # into the shared virtualenv's console scripts).
    subprocess.run(["make", "--quiet", "setup"], cwd=ROOT, check=True, capture_output=True)
    checkout = tmp_path / "artifact-store"
    checkout.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in _NOT_LINKED:
            (checkout / entry.name).symlink_to(entry)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARTIFACTSTORE_", "AWS_", "STATE_HUB_", "GUIDE_BOARD_"))
    }
    env.update(
        PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        ARTIFACTSTORE_LOCALDEV_DIR=str(tmp_path / "localdev"),
        ARTIFACTSTORE_LOCAL_AWS_PORT=str(free_port()),  # not the guide's concern; 4566 may be busy
        **extra_env,
    )
    return Guide(checkout, tmp_path / "localdev", env)


@contextmanager
def make_dev(tmp_path: Path, **extra_env: str) -> Iterator[Guide]:
    """Step 2 of the guide: ``cp .env.example .env``, ``make migrate-fresh``, ``make dev``."""
    with _guide_ports_lock():
        taken = [port for port in (8000, 8001) if port_taken(port)]
        if taken:
            pytest.skip(f"the guide's port(s) {taken} are in use (is a `make dev` running?)")
        with _running(checkout_view(tmp_path, **extra_env), tmp_path) as g:
            yield g


@contextmanager
def _guide_ports_lock() -> Iterator[None]:
    """One holder of the guide's ports at a time, across pytest-xdist workers.

    ``xdist_group("stack")`` should already keep these tests on one worker, but pytest 9.2
    silently ignores it (pytest-xdist issue #1386), so the ports are guarded here too.
    """
    path = Path(tempfile.gettempdir()) / "artifactstore-guide-ports-8000-8001.lock"
    with path.open("a") as handle:
        deadline = time.monotonic() + 900
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip("another test held the guide's ports for 15 minutes")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _running(g: Guide, tmp_path: Path) -> Iterator[Guide]:
    """``make dev`` up (skipping if a guide port is taken meanwhile), then Ctrl-C."""
    g.ok("cp .env.example .env\nmake migrate-fresh")
    log_path = tmp_path / "make-dev.log"
    with log_path.open("wb") as log:
        dev = subprocess.Popen(
            ["make", "dev"], cwd=g.checkout, env=g.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not healthy():
            tail = log_path.read_text(errors="replace")[-3000:]
            if dev.poll() is not None and "in use" in tail:
                # another process took a guide port between our check and make dev's bind
                pytest.skip(f"a guide port was taken while make dev started:\n{tail[-400:]}")
            assert dev.poll() is None, f"make dev exited with {dev.returncode}:\n{tail}"
            assert time.monotonic() < deadline, f"make dev did not answer /health:\n{tail}"
            time.sleep(0.3)
        yield g
    finally:
        _interrupt(dev)
    assert not port_taken(8000) and not port_taken(8001), "make dev left something listening"


def _interrupt(dev: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to ``make dev``'s process group, as in its terminal; SIGKILL if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(dev.pid, signal.SIGINT)
    try:
        dev.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.pid, signal.SIGKILL)
        dev.wait()


def healthy() -> bool:
    """True when the guide's API answers ``GET /health``."""
    try:
        with urllib.request.urlopen(f"{API}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def guide_run(tmp_path: Path, name: str = "open-cmis-tck-baseline", **run_json: str) -> Path:
    """A finalized run where the guide puts it; ``run_json`` overrides fields of run.json."""
    run = build_run(tmp_path / "guide-board-artifact-store-smoke" / name)
    (run / "run.json").write_text(json.dumps({**RUN_JSON, **run_json}, indent=2))
    return run


def expected_manifest(run: Path, metadata: dict[str, Any]) -> bytes:
    """The manifest by the contract, from the directory alone: JCS bytes."""
    files = []
    for path in sorted((p for p in run.rglob("*") if p.is_file()), key=lambda p: str(p)):
        entry: dict[str, Any] = {
            "path": path.relative_to(run).as_posix(),
            "size": path.stat().st_size,
            "digest": "blake3:" + blake3.blake3(path.read_bytes()).hexdigest(),
        }
        if path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
            entry["executable"] = True
        files.append(entry)
    files.sort(key=lambda f: f["path"].encode("utf-8"))
    return rfc8785.dumps(
        {
            "manifest_version": 1,
            "producer": "guide-board",
            "idempotency_key": metadata["run_id"],
            "schema": "guide-board.run.v1",
            "metadata": metadata,
            "files": files,
        }
    )
