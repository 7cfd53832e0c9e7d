"""A server that is reached but never answers: a timeout message, not "cannot reach"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from artifactstore.client.api import ApiClient
from artifactstore.errors import ServerError
from artifactstore.settings import ClientSettings
from tests.unit.test_cli_commands import cli

TIMEOUT = 0.3  # the client's read timeout here; the server holds every request far longer


class SlowServer(ThreadingHTTPServer):
    """Reads each request, then says nothing until the test is over."""

    daemon_threads = True

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Silent)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Silent(BaseHTTPRequestHandler):
    server: SlowServer

    def log_message(self, *_args: Any) -> None:
        pass

    def _any(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.requests.append((self.command, self.path))
        self.server.release.wait(30)
        self.close_connection = True

    do_GET = do_PUT = do_POST = _any  # noqa: N815


@pytest.fixture
def slow() -> Iterator[SlowServer]:
    server = SlowServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_api_read_timeout_says_what_timed_out_after_how_long_and_the_setting(
    slow: SlowServer,
) -> None:
    client = ApiClient(
        slow.url,
        "t",
        TIMEOUT,
        retries=1,
        backoff=0,
        timeout_setting="ARTIFACTSTORE_CLIENT_TIMEOUT",
    )
    with client, pytest.raises(ServerError) as caught:
        client.get_json("/packages/p-1")
    assert caught.value.code == "api_timeout"
    assert caught.value.message == (
        f"artifact-store at {slow.url} did not answer GET /packages/p-1 within 0.3 s "
        "(2 attempts, ReadTimeout): it is reachable but slow or stuck; "
        "set ARTIFACTSTORE_CLIENT_TIMEOUT to wait longer"
    )
    assert caught.value.details == {"timeout_seconds": TIMEOUT, "attempts": 2}
    assert slow.requests == [("GET", "/packages/p-1")] * 2  # it was reached, twice


def test_storage_read_timeout_is_not_unreachable_either(slow: SlowServer) -> None:
    client = ApiClient("http://api.invalid", "t", TIMEOUT, retries=0)
    with client, pytest.raises(ServerError) as caught:
        client.put_upload(f"{slow.url}/upload/x", {}, 3, lambda: [b"abc"])
    assert caught.value.code == "storage_timeout"
    host = slow.url.removeprefix("http://")
    assert caught.value.message == (
        f"storage at {host} did not answer PUT /upload/x within 0.3 s (ReadTimeout): "
        "it is reachable but slow or stuck; try again later"
    )
    assert slow.requests == [("PUT", "/upload/x")]


@pytest.mark.skipif(
    "client_timeout" not in ClientSettings.model_fields,
    reason="needs ClientSettings.client_timeout (ARTIFACTSTORE_CLIENT_TIMEOUT) in settings.py",
)
def test_cli_names_the_timeout_setting(slow: SlowServer, tmp_path: Path) -> None:
    env = {"ARTIFACTSTORE_API_URL": slow.url, "ARTIFACTSTORE_CLIENT_TIMEOUT": str(TIMEOUT)}
    done = cli("packages", "show", "p-1", cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr == (
        f"error: artifact-store at {slow.url} did not answer GET /packages/p-1 within 0.3 s "
        "(ReadTimeout): it is reachable but slow or stuck; "
        "set ARTIFACTSTORE_CLIENT_TIMEOUT to wait longer\n"
    )
