"""``make dev``: the whole stack on loopback, in one command and one terminal.

moto (S3, SQS, DynamoDB, EventBridge) provisioned from ``template.yaml`` with its state restored
from ``.localdev/``; the State Hub stand-in when ``STATE_HUB_URL`` is unset; the FastAPI app under
uvicorn; the event pump. Ctrl-C (or SIGTERM) stops every process it started and saves the state.

``python -m localdev.dev --background`` starts it detached and returns once ``GET /health``
answers; ``python -m localdev.dev stop`` stops a running one; ``status`` says whether one runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from localdev import ctl
from localdev.config import DevConfig, load_env

if TYPE_CHECKING:
    from localdev.motoserver import MotoServer
    from localdev.statehub import StateHubStandIn

log = logging.getLogger("localdev.dev")
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # moto's
# On Lambda the API's credentials carry a session token, and so does every presigned URL
# (X-Amz-Security-Token: ~1.7 KB a URL). moto takes any token: give the API one as long, so
# the local stack's answers are as big as Lambda's (docs/api.md, "Answer and request sizes").
LAMBDA_LIKE_SESSION_TOKEN = "IQoJb3JpZ2luX2VjE" + "x" * 1183


class DevError(RuntimeError):
    """Something that stops ``make dev`` from starting, said plainly."""


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _uvicorn_log_config(path: Path) -> Path:
    fmt = "%(asctime)s api      %(message)s"
    access = '%(asctime)s api      %(client_addr)s "%(request_line)s" %(status_code)s'
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": fmt,
                "datefmt": "%H:%M:%S",
                "use_colors": False,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": access,
                "datefmt": "%H:%M:%S",
                "use_colors": False,
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def _log_aws_request(method: str, what: str, status: int) -> None:
    # S3 writes, reads of packs (a few per download) and published events are worth a line;
    # queue polling, catalog calls and reads of single blobs are not
    object_write = method in ("PUT", "POST", "DELETE") and what.count("/") >= 2
    pack_read = method == "GET" and "/packs/" in what
    if what.endswith(".PutEvents") or object_write or pack_read:
        log_aws.info("%s %s %d", method, what, status)
    else:
        log_aws.debug("%s %s %d", method, what, status)


log_aws = logging.getLogger("localdev.aws")


class DevStack:
    """Starts, supervises and stops the local stack's parts."""

    def __init__(self, config: DevConfig) -> None:
        self.config = config
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.moto: MotoServer | None = None
        self.hub: StateHubStandIn | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Everything up, or nothing left behind."""
        from localdev.motoserver import MotoServer, SnapshotError
        from localdev.provision import provision
        from localdev.statehub import StateHubStandIn

        cfg = self.config
        ctl.claim_pid_file(cfg.path("dev.pid"))
        hub_wanted = not os.environ.get("STATE_HUB_URL")
        for name, port, wanted in (
            ("API", cfg.api_port, True),
            ("State Hub stand-in", cfg.statehub_port, hub_wanted),
        ):
            if wanted and not _port_free(cfg.api_host, port):
                raise DevError(f"port {port} ({name}) is in use: is `make dev` already running?")
        template = cfg.root / "template.yaml"
        if not template.exists():
            raise DevError(f"{template} does not exist: the stack is provisioned from it")
        moto = MotoServer(
            "127.0.0.1", cfg.aws_port, cfg.path("moto-state.pickle"), _log_aws_request
        )
        try:
            moto.start()
        except OSError as exc:
            raise DevError(f"cannot listen on 127.0.0.1:{cfg.aws_port} for moto: {exc}") from exc
        except SnapshotError as exc:
            raise DevError(str(exc)) from exc
        self.moto = moto
        log.info("moto listening on %s", moto.endpoint)
        stack = provision(moto.endpoint, template, root=cfg.root, stack_file=cfg.path("stack.json"))
        env = self._child_env(stack.service_environment())
        if hub_wanted:
            hub = StateHubStandIn(cfg.path("statehub-events.jsonl"), "127.0.0.1", cfg.statehub_port)
            hub.start()
            self.hub = hub
            env["STATE_HUB_URL"] = hub.url
            log.info(
                "State Hub stand-in on %s (GET %s/progress/ lists what it received)",
                hub.url,
                hub.url,
            )
        if cfg.api_app.startswith("localdev.api_app:"):
            log.info("the API also answers %s/progress/ as the stand-in (same log)", cfg.api_url)
        else:
            log.info("State Hub: %s", env["STATE_HUB_URL"])
        self._spawn_api(env)
        self._spawn_pump(env)
        ctl.write_info(
            cfg.path("dev.json"),
            api_url=cfg.api_url,
            aws_endpoint=moto.endpoint,
            state_hub_url=env["STATE_HUB_URL"],
        )
        threading.Thread(target=self._autosave, name="autosave", daemon=True).start()
        log.info("API on %s  (Ctrl-C stops everything and saves the state)", cfg.api_url)

    def _child_env(self, stack_env: dict[str, str]) -> dict[str, str]:
        cfg = self.config
        env = dict(os.environ)
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        env.setdefault("ARTIFACTSTORE_API_URL", cfg.api_url)
        env.setdefault("ARTIFACTSTORE_API_TOKEN", "dev-token")
        env.setdefault("ARTIFACTSTORE_LOCAL_STORAGE_DIR", str(cfg.path("storage")))
        env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        # Local development: the local backend may sign its URLs with the example key
        # (ARTIFACTSTORE_LOCAL_SIGNING_KEY); everywhere else a real secret is required.
        env["ARTIFACTSTORE_LOCAL_DEV"] = "1"
        # the API's /progress/ stand-in routes (localdev.api_app) share the 8001 stand-in's log
        env["ARTIFACTSTORE_LOCAL_STATEHUB_EVENTS"] = str(cfg.path("statehub-events.jsonl"))
        env.update(FAKE_AWS)
        env.update(stack_env)
        env["PYTHONUNBUFFERED"] = "1"
        # the pump runs as ``-m localdev.pump``: make the checkout importable from any cwd
        checkout = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [checkout, env.get("PYTHONPATH")]))
        return env

    def _spawn_api(self, env: dict[str, str]) -> None:
        cfg = self.config
        log_config = _uvicorn_log_config(cfg.path("uvicorn-log.json"))
        command = [
            sys.executable, "-m", "uvicorn", cfg.api_app, "--factory",
            "--host", cfg.api_host, "--port", str(cfg.api_port), "--log-config", str(log_config),
        ]  # fmt: skip
        api_env = {"AWS_SESSION_TOKEN": LAMBDA_LIKE_SESSION_TOKEN, **env}
        self.children["api"] = subprocess.Popen(command, env=api_env, cwd=cfg.root)

    def _spawn_pump(self, env: dict[str, str]) -> None:
        cfg = self.config
        command = [
            sys.executable, "-m", "localdev.pump", "--stack", str(cfg.path("stack.json")),
            "--root", str(cfg.root), "--schedule-seconds", str(cfg.schedule_seconds),
        ]  # fmt: skip
        self.children["pump"] = subprocess.Popen(command, env=env, cwd=cfg.root)

    def _autosave(self) -> None:
        while not self._stop.wait(self.config.autosave_seconds):
            if self.moto is not None:
                try:
                    self.moto.save(only_if_changed=True)
                except Exception:
                    log.exception("autosave failed (the state is saved again at shutdown)")

    def wait(self) -> int:
        """Block until a signal or a child's death; the exit code to end with."""
        while not self._stop.wait(0.5):
            for name, child in self.children.items():
                if child.poll() is not None and not self._stop.is_set():
                    log.error("%s exited with code %s: stopping everything", name, child.returncode)
                    return 1
        return 0

    def request_stop(self) -> None:
        """Ask :meth:`wait` to return (signal handlers call this)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop children, the stand-in and moto (saving its state); remove the pid file."""
        self._stop.set()
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        for name, child in self.children.items():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 20 s: killing it", name)
                child.kill()
                child.wait()
        if self.hub is not None:
            self.hub.stop()
        if self.moto is not None:
            self.moto.stop(save=True)
        ctl.release_pid_file(self.config.path("dev.pid"))
        log.info("stopped; state kept in %s", self.config.state_dir)


def run(root: Path) -> int:
    """Run in the foreground until Ctrl-C or SIGTERM."""
    load_env(root)
    ctl.configure_logging(verbose=bool(os.environ.get("ARTIFACTSTORE_LOCAL_VERBOSE")))
    config = DevConfig.from_env(root)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    stack = DevStack(config)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stack.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        stack.start()
        code = stack.wait()
    except (DevError, ctl.AlreadyRunning) as exc:
        log.error("%s", exc)
        code = 2
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            stack.stop()
    return code


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m localdev.dev``."""
    parser = argparse.ArgumentParser(prog="python -m localdev.dev", description="The local stack.")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "stop", "status"])
    parser.add_argument(
        "--background", action="store_true", help="start detached, wait for /health"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait (background/stop)"
    )
    args = parser.parse_args(argv)
    root = Path.cwd()
    if args.command == "stop":
        sys.exit(ctl.stop(root, args.timeout))
    if args.command == "status":
        sys.exit(ctl.status(root))
    if args.background:
        sys.exit(ctl.start_background(root, args.timeout))
    sys.exit(run(root))


if __name__ == "__main__":
    main()
