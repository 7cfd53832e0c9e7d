"""The State Hub stand-in: records progress events and lists them back.

``POST /progress/`` appends the JSON body (with an ``id`` and ``received_at``) to a JSON-lines
file and answers 201 ``{"id": ...}``; ``GET /progress/`` lists everything recorded, oldest first.
The file survives restarts, like the rest of ``.localdev/``.

One protocol (:func:`respond`), served two ways: by :class:`StateHubStandIn`, a small HTTP server
of its own (port 8001, where the linker posts), and by :func:`progress_router`, the same routes
for the API's FastAPI app (the pilot guide points ``STATE_HUB_URL`` at the API's address).
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.requests import Request

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


def respond(events: EventLog, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """The stand-in's whole protocol: ``(status, JSON body)`` for one request."""
    if path.split("?", 1)[0] not in _PATHS:
        return HTTPStatus.NOT_FOUND, _error("not_found", f"no route {path}")
    if method == "GET":
        items = events.all()
        return HTTPStatus.OK, {"items": items, "count": len(items)}
    if method != "POST":
        return HTTPStatus.METHOD_NOT_ALLOWED, _error("method_not_allowed", f"no {method} {path}")
    try:
        event = json.loads(body or b"null")
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return HTTPStatus.UNPROCESSABLE_ENTITY, _error(
            "invalid_input", "body must be a JSON object"
        )
    record = events.append(event)
    log.info("%s recorded %s (%s)", record["id"], event.get("event_type"), event.get("summary", ""))
    return HTTPStatus.CREATED, {"id": record["id"]}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": None}}


def progress_router(events: EventLog) -> APIRouter:
    """:func:`respond` as routes for a FastAPI app (``GET``/``POST`` ``/progress[/]``)."""
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    async def progress(request: Request) -> JSONResponse:
        body = await request.body()
        status, answer = await run_in_threadpool(
            respond, events, request.method, request.url.path, body
        )
        return JSONResponse(answer, status_code=status)

    router = APIRouter(tags=["local State Hub stand-in"])
    for path in _PATHS:  # plain routes: the request as it came, no FastAPI validation
        router.add_route(path, progress, methods=["GET", "POST"], include_in_schema=False)
    return router


def _handler_class(events: EventLog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "statehub-standin"

        def _serve(self, body: bytes = b"") -> None:
            status, answer = respond(events, self.command, self.path, body)
            data = json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

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
