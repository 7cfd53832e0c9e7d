"""The unit-test network guard (tests/unit/conftest.py) blocks the network and nothing else."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.conftest import NetworkBlockedError


@pytest.mark.parametrize(
    ("family", "address"),
    [
        (socket.AF_INET, ("192.0.2.1", 443)),  # TEST-NET-1: never routed
        (socket.AF_INET, ("0.0.0.0", 80)),  # some stacks treat it as "this host"
        (socket.AF_INET6, ("2001:db8::1", 443)),
    ],
)
def test_connect_outside_loopback_is_blocked(family: int, address: tuple[str, int]) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkBlockedError):
            sock.connect(address)
        with pytest.raises(NetworkBlockedError):
            sock.connect_ex(address)


def test_name_lookup_and_create_connection_are_blocked() -> None:
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(NetworkBlockedError):
        socket.create_connection(("example.com", 443), timeout=1)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_still_works(host: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection((host, port), timeout=5) as client:
            peer, _ = server.accept()
            with peer:
                client.sendall(b"ping")
                assert peer.recv(4) == b"ping"


def test_unix_sockets_still_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("s")
        server.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect("s")
            peer, _ = server.accept()
            with peer:
                client.sendall(b"ping")
                assert peer.recv(4) == b"ping"


def test_subprocesses_still_run() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "print('ok')"], capture_output=True, check=True, timeout=30
    )
    assert result.stdout == b"ok\n"
