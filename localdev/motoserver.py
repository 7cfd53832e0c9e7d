"""moto in server mode, in this process, with its state saved to and restored from disk.

moto keeps everything in memory. Its request recorder replays every request ever made (every
long poll, every blob body base64-encoded in one ever-growing log, receipt handles that no longer
match), so instead we pickle moto's own backend objects for the services the stack uses: every
version, lock, message and item survives exactly, timestamps and ids included. Saving takes an
exclusive gate that waits for in-flight requests, so no snapshot sees a half-applied request.
The snapshot records moto's version; a different version refuses to load (``make migrate-fresh``).

moto is pinned exactly (pyproject.toml) because ``localdev.moto_s3`` and ``localdev.moto_dynamodb``
patch its internals. Each patch comes with a probe that shows, on unpatched moto, that the bug it
works around is still there; :func:`check_patches` runs them before patching and warns loudly when
one is fixed (the patch can go). ``python -m localdev.motoserver --check-patches`` runs them all.
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

log = logging.getLogger("localdev.moto")

SERVICES = ("s3", "sqs", "dynamodb", "events", "kms")
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class SnapshotError(RuntimeError):
    """A state file this moto cannot load."""


class ObsoletePatch(UserWarning):
    """moto no longer has a bug one of our patches works around: the patch can go."""


Probe = Callable[[], bool]  # True while unpatched moto still has the bug


def check_patches(module: str, probes: Mapping[str, Probe]) -> dict[str, bool | None]:
    """Run each probe on unpatched moto: ``{patch: bug still there}`` (None: the probe failed).

    A fixed bug, or a probe that no longer runs (moto changed the internals it touches), is
    reported as an :class:`ObsoletePatch` warning and a log line on stderr, naming the patch.
    """
    found: dict[str, bool | None] = {}
    for name, probe in probes.items():
        what = (probe.__doc__ or name).strip().splitlines()[0]
        try:
            found[name] = bool(probe())
        except Exception as exc:
            found[name] = None
            _loud(
                f"{module}.{name}: its probe failed on moto {version('moto')} ({exc!r}): moto "
                f"changed what the patch touches; review the patch ({what})"
            )
            continue
        if not found[name]:
            _loud(
                f"{module}.{name}: moto {version('moto')} no longer has this bug, the patch can "
                f"go: {what}"
            )
    return found


def _loud(message: str) -> None:
    warnings.warn(message, ObsoletePatch, stacklevel=3)
    log.warning("%s", message)  # on stderr even when nothing configured logging (lastResort)


def probe_all() -> dict[str, bool | None]:
    """Every patch's probe, on this process's moto (call before anything installs a patch)."""
    from localdev import moto_dynamodb, moto_s3

    found = {f"moto_s3.{k}": v for k, v in check_patches("moto_s3", moto_s3.PROBES).items()}
    found.update(
        {
            f"moto_dynamodb.{k}": v
            for k, v in check_patches("moto_dynamodb", moto_dynamodb.PROBES).items()
        }
    )
    return found


class _Gate:
    """Many requests at once, or one snapshot alone; a waiting snapshot holds back new requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    def enter(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._active += 1

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._closed = True
            self._cond.wait_for(lambda: self._active == 0)

    def open(self) -> None:
        with self._cond:
            self._closed = False
            self._cond.notify_all()


def _rebuild_dict(cls: type[dict[Any, Any]], items: list[tuple[Any, Any]]) -> dict[Any, Any]:
    obj = cls.__new__(cls)
    dict.update(obj, items)
    return obj


class _Pickler(pickle.Pickler):
    """Pickles moto backends: locks and conditions are recreated fresh on load.

    moto's dict subclasses override ``items``/``__setitem__`` (S3's versioned key store yields
    only the latest version), so their raw entries are saved and restored with ``dict``'s own.
    """

    def reducer_override(self, obj: Any) -> Any:
        if (private_key := _private_key_der(obj)) is not None:
            # moto's KMS keys hold cryptography keys, which do not pickle: saved as DER
            return _load_private_key, (private_key,)
        if isinstance(obj, _LOCK_TYPES):
            return type(obj), ()
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if (
            type(obj) is not dict
            and isinstance(obj, dict)
            and type(obj).__module__.startswith("moto.")
        ):
            return (
                _rebuild_dict,
                (type(obj), list(dict.items(obj))),
                getattr(obj, "__dict__", None) or None,
            )
        return NotImplemented


@functools.cache
def _private_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    return (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)


def _private_key_der(obj: Any) -> bytes | None:
    """PKCS#8 DER of a cryptography private key (what moto's asymmetric KMS keys hold)."""
    if not isinstance(obj, _private_key_types()):
        return None
    from cryptography.hazmat.primitives import serialization

    key: Any = obj
    return bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, None)


def _backends(service: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]


def save_state(path: Path, services: Iterable[str] = SERVICES) -> None:
    """Write every materialized backend of ``services`` to ``path`` (temp file, then rename)."""
    state = {
        service: [
            (account, region, backend)
            for account, region, backend in _backends(service).iter_backends()
        ]
        for service in services
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        _Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL).dump(
            {"moto": version("moto"), "state": state}
        )
    tmp.replace(path)


def restore_state(path: Path) -> bool:
    """Load ``path`` into moto's backends; False when there is no saved state."""
    if not path.exists():
        return False
    with path.open("rb") as handle:
        # our own file, written by save_state above
        saved = pickle.load(handle)  # noqa: S301
    if saved.get("moto") != version("moto"):
        raise SnapshotError(
            f"{path} was saved by moto {saved.get('moto')}, this is moto {version('moto')}: "
            "run `make migrate-fresh` to start over"
        )
    for service, entries in saved["state"].items():
        backends = _backends(service)
        for account, region, backend in entries:
            backends[account][region] = backend
    return True


class MotoServer:
    """A threaded moto server on ``host:port`` whose state persists in ``state_file``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
        on_request: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self._host, self._port = host, port
        self.state_file = state_file
        self._on_request = on_request
        self._gate = _Gate()
        self._dirty = False
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the running server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Restore saved state (if any), then serve in a daemon thread."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from localdev import moto_dynamodb, moto_s3, moto_speed

        moto_dynamodb.install()
        moto_s3.install()  # its probes need moto as released: the speed shortcuts come after
        moto_speed.install()
        if self.state_file is not None and restore_state(self.state_file):
            log.info("restored AWS state from %s", self.state_file)
        app = DomainDispatcherApplication(create_backend_app)

        class QuietHandler(MotoRequestHandler):
            """moto's handler (keeps S3 metadata headers with underscores), without access log."""

            # keep-alive: botocore reuses connections instead of one TCP connect per request
            protocol_version = "HTTP/1.1"

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                return None

        self._server = make_server(
            self._host, self._port, self._gated(app), threaded=True, request_handler=QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def _gated(self, app: Any) -> Any:
        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            self._gate.enter()
            try:
                target = environ.get("HTTP_X_AMZ_TARGET", "")
                if environ["REQUEST_METHOD"] not in ("GET", "HEAD") and not target.endswith(
                    (".ReceiveMessage", ".GetQueueAttributes", ".GetQueueUrl")
                ):
                    self._dirty = True
                status: list[int] = []

                def recording_start(code: str, headers: Any, *exc: Any) -> Any:
                    status.append(int(code.split(" ", 1)[0]))
                    return start_response(code, headers, *exc)

                # materialize the body inside the gate: a snapshot never runs mid-request
                body = b"".join(app(environ, recording_start))
                if self._on_request is not None:
                    self._on_request(
                        environ["REQUEST_METHOD"],
                        target or environ.get("PATH_INFO", ""),
                        status[0] if status else 0,
                    )
                return [body] if body else []
            finally:
                self._gate.leave()

        return wsgi

    def save(self, *, only_if_changed: bool = False) -> bool:
        """Snapshot the state between requests; True when written."""
        if self.state_file is None or (only_if_changed and not self._dirty):
            return False
        self._gate.close()
        try:
            self._dirty = False
            save_state(self.state_file)
        finally:
            self._gate.open()
        return True

    def stop(self, *, save: bool = True) -> None:
        """Stop serving (so nothing listens any more), then save the state."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        if save and self.state_file is not None:
            save_state(self.state_file)
            log.info("saved AWS state to %s", self.state_file)


def main(argv: list[str] | None = None) -> None:
    """``python -m localdev.motoserver``: serve until SIGINT/SIGTERM, then save the state."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="moto server with persistent state")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--state-file", type=Path, default=None)
    parser.add_argument(
        "--check-patches",
        action="store_true",
        help="probe unpatched moto for each bug our patches work around; print JSON and exit "
        "(status 1 when a patch is obsolete)",
    )
    args = parser.parse_args(argv)
    if args.check_patches:
        found = probe_all()
        print(json.dumps(found, indent=2, sort_keys=True))
        sys.exit(0 if all(found.values()) else 1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s moto     %(message)s")
    server = MotoServer(args.host, args.port, args.state_file)
    server.start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    print(f"listening on {server.endpoint}", flush=True)
    stopping.wait()
    server.stop(save=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
