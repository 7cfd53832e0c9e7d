"""Control a ``make dev`` stack from outside: the pid file, background start, stop, status,
and one maintenance round on demand (``python -m localdev.ctl maintenance --as-of TIME``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from localdev.config import DevConfig, load_env

log = logging.getLogger("localdev.ctl")


class AlreadyRunning(RuntimeError):
    """Another ``make dev`` owns the state directory."""


class _ComponentFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.component = record.name.rsplit(".", 1)[-1]
        return True


def configure_logging(*, verbose: bool = False) -> None:
    """One readable line per event: ``12:00:00 provision created table …``."""
    handler = logging.StreamHandler()
    handler.addFilter(_ComponentFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(component)-8s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "samtranslator"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) no longer runs anything
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def running_pid(pid_file: Path) -> int | None:
    """The pid of the running ``make dev`` that wrote ``pid_file``, or None."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def claim_pid_file(pid_file: Path) -> None:
    """Write our pid, refusing when another live ``make dev`` holds the file."""
    other = running_pid(pid_file)
    if other is not None and other != os.getpid():
        raise AlreadyRunning(f"make dev is already running (pid {other}); stop it first")
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")


def release_pid_file(pid_file: Path) -> None:
    """Remove the pid file if it is ours."""
    if running_pid(pid_file) in (os.getpid(), None):
        pid_file.unlink(missing_ok=True)


def write_info(path: Path, **info: str) -> None:
    """Record where the running stack listens (read by ``status`` and tests)."""
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def healthy(api_url: str) -> bool:
    """True when ``GET /health`` answers 200."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as answer:  # noqa: S310 - loopback URL
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _config(root: Path) -> DevConfig:
    load_env(root)
    return DevConfig.from_env(root)


def start_background(root: Path, timeout: float) -> int:
    """Start ``make dev`` detached, logging to ``.localdev/dev.log``; 0 once /health answers."""
    config = _config(root)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    if running_pid(config.path("dev.pid")) is not None and healthy(config.api_url):
        print(f"already running: {config.api_url}")
        return 0
    log_file = config.path("dev.log")
    with log_file.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "localdev.dev"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(
                f"make dev exited with code {child.returncode}; the end of {log_file}:",
                file=sys.stderr,
            )
            lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
            print("\n".join(lines[-30:]), file=sys.stderr)
            return 1
        if healthy(config.api_url):
            print(
                f"running in the background (pid {child.pid}): {config.api_url}, logs in {log_file}"
            )
            return 0
        time.sleep(0.2)
    print(
        f"{config.api_url}/health did not answer within {timeout:.0f} s; stopping", file=sys.stderr
    )
    _terminate(child.pid, timeout=60)
    return 1


def _terminate(pid: int, timeout: float) -> bool:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def kill(state_dir: Path, timeout: float = 10.0) -> None:
    """Kill a background stack's whole process group, without saving its state (a throwaway
    stack of the tests or the benchmarks: pickling gigabytes of it would only cost time)."""
    try:
        pid = int((state_dir / "dev.pid").read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # `--background` starts the stack in its own session
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)


def stop(root: Path, timeout: float) -> int:
    """Stop a running ``make dev`` (it saves its state); 0 when nothing runs any more."""
    config = _config(root)
    pid = running_pid(config.path("dev.pid"))
    if pid is None:
        print("make dev is not running")
        return 0
    if _terminate(pid, timeout):
        print(f"stopped make dev (pid {pid})")
        return 0
    print(f"make dev (pid {pid}) did not stop within {timeout:.0f} s", file=sys.stderr)
    return 1


def status(root: Path) -> int:
    """Print where a running ``make dev`` listens; 0 when running, 3 when not."""
    config = _config(root)
    pid = running_pid(config.path("dev.pid"))
    if pid is None:
        print("make dev is not running")
        return 3
    info = config.path("dev.json")
    details = info.read_text(encoding="utf-8") if info.exists() else "{}"
    print(f"make dev is running (pid {pid}): {details.strip()}")
    return 0


def maintenance_env(root: Path) -> dict[str, str]:
    """The environment the running stack's functions see (its resources, storage, keys)."""
    from localdev.dev import FAKE_AWS
    from localdev.stack import LocalStack

    config = _config(root)
    stack = LocalStack.read(config.path("stack.json"))
    env = {
        "ARTIFACTSTORE_API_URL": config.api_url,
        "ARTIFACTSTORE_LOCAL_STORAGE_DIR": str(config.path("storage")),
        "POWERTOOLS_TRACE_DISABLED": "true",
        **{k: v for k, v in os.environ.items() if k.startswith("ARTIFACTSTORE_")},
        "ARTIFACTSTORE_LOCAL_DEV": "1",
        **FAKE_AWS,
        **stack.service_environment(),
    }
    env.pop("ARTIFACTSTORE_LOCAL_NOTIFY_QUEUE_URL", None)  # maintenance uploads nothing
    return env


def maintenance(root: Path, as_of: datetime | None) -> int:
    """Run one maintenance round against the running ``make dev`` stack, as if the clock said
    ``as_of`` (now when None); print its figures as one JSON object. 3 when nothing runs."""
    config = _config(root)
    if running_pid(config.path("dev.pid")) is None:
        print("make dev is not running: start it first (make dev)", file=sys.stderr)
        return 3
    os.environ.update(maintenance_env(root))
    os.environ.pop("AWS_PROFILE", None)
    from artifactstore.service.factory import build_services
    from artifactstore.service.lifecycle import run_maintenance
    from artifactstore.settings import service_settings

    svc = build_services(service_settings())
    if as_of is not None:
        svc.clock = lambda: as_of
    figures = run_maintenance(svc).as_dict()
    print(json.dumps({"as_of": (as_of or svc.clock()).isoformat(), **figures}, sort_keys=True))
    return 0


def _instant(text: str) -> datetime:
    """An ISO 8601 instant with its zone (``2027-01-01T00:00:00Z``), as aware UTC."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time zone too (…Z or +00:00): {text!r}")
    return when.astimezone(UTC)


def main(argv: list[str] | None = None) -> None:
    """``python -m localdev.ctl maintenance [--as-of TIME]``."""
    parser = argparse.ArgumentParser(
        prog="python -m localdev.ctl", description="Act on a running make dev stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    round_ = commands.add_parser(
        "maintenance",
        help="run one maintenance round now (expiry, sweep, outbox) and print its figures",
    )
    round_.add_argument(
        "--as-of",
        type=_instant,
        default=None,
        metavar="TIME",
        help="run as if the clock said TIME (ISO 8601 with zone, e.g. 2027-01-01T00:00:00Z)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sys.exit(maintenance(Path.cwd(), args.as_of))


if __name__ == "__main__":
    main()
