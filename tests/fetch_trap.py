"""A real loopback HTTP server that counts the requests it gets: what a schema must never fetch."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SECRET = b"SECRET-FROM-THE-INSIDE"


class Counter(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a schema whose content must never be seen, and counts them."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = b'{"const": "' + SECRET + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def fetch_trap() -> Iterator[tuple[str, type[Counter]]]:
    """(a schema URL on the server, the handler class whose ``hits`` count its requests)."""

    class Handler(Counter):
        hits = 0

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/schema.json", Handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
