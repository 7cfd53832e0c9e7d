"""A State Hub stand-in: records progress events and lists them back.

``POST /progress/`` appends the JSON body (with an ``id`` and ``received_at``) to a JSON-lines
file and answers 201 ``{"id": ...}``; ``GET /progress/`` lists everything recorded, oldest first.
The file survives restarts, like the rest of ``.localdev/``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("localdev.statehub")
_PATHS = ("/progress", "/progress/")


class EventLog:
    """Append-only JSON-lines store of received events.

    Two processes append to one file (the stand-in thread in ``make dev`` and the API's
    ``/progress/`` routes, see ``localdev.api_app``), so each append holds an exclusive lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Record ``event`` with a new id; return the stored record."""
        record = {"id": str(uuid.uuid4()), "received_at": datetime.now(UTC).isoformat(), **event}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(line)
                handle.flush()
        return record

    def all(self) -> list[dict[str, Any]]:
        """Every recorded event, oldest first."""
        with self._lock:
            if not self.path.exists():
                return []
            with self.path.open(encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)
                lines = handle.read().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def _handler_class(events: EventLog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "statehub-standin"

        def _answer(self, status: HTTPStatus, body: Any) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: HTTPStatus, code: str, message: str) -> None:
            self._answer(status, {"error": {"code": code, "message": message, "details": None}})

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in _PATHS:
                self._error(HTTPStatus.NOT_FOUND, "not_found", f"no route {self.path}")
                return
            items = events.all()
            self._answer(HTTPStatus.OK, {"items": items, "count": len(items)})

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] not in _PATHS:
                self._error(HTTPStatus.NOT_FOUND, "not_found", f"no route {self.path}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._error(
                    HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input", "body must be a JSON object"
                )
                return
            record = events.append(body)
            log.info(
                "%s recorded %s (%s)", record["id"], body.get("event_type"), body.get("summary", "")
            )
            self._answer(HTTPStatus.CREATED, {"id": record["id"]})

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return Handler


class StateHubStandIn:
    """The stand-in served from a daemon thread (``port=0`` picks a free port)."""

    def __init__(self, events_file: Path, host: str = "127.0.0.1", port: int = 8001) -> None:
        self.events = EventLog(events_file)
        self._server = ThreadingHTTPServer((host, port), _handler_class(self.events))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="statehub", daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8001``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def main(argv: list[str] | None = None) -> None:
    """``python -m localdev.statehub``: serve in the foreground."""
    parser = argparse.ArgumentParser(description="State Hub stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--events", type=Path, default=Path(".localdev/statehub-events.jsonl"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s statehub %(message)s", datefmt="%H:%M:%S"
    )
    hub = StateHubStandIn(args.events, args.host, args.port)
    log.info("listening on %s", hub.url)
    try:
        hub._server.serve_forever()
    except KeyboardInterrupt:
        hub._server.server_close()


if __name__ == "__main__":
    main()
