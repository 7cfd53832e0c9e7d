"""Unit tests never touch the network: every connect outside loopback and AF_UNIX fails loudly.

Subprocesses started by a test are separate interpreters and are not affected; they only ever
run the offline CLI.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest


class NetworkBlockedError(RuntimeError):
    """A unit test tried to reach the network.

    Not an ``OSError`` on purpose, so no retry loop or fallback can swallow it.
    """


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _guard_address(sock: socket.socket, address: Any) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        raise NetworkBlockedError(f"unit tests may not reach the network (connect to {address!r})")


def _guarded_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        _guard_address(self, address)
        return original(self, address)

    return connect


def _guarded_getaddrinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # A name lookup is already network traffic (DNS); numeric hosts are checked at connect.
        if host not in (None, "", b"") and not _is_loopback(host) and not _is_numeric(host):
            raise NetworkBlockedError(f"unit tests may not resolve host names ({host!r})")
        return original(host, *args, **kwargs)

    return getaddrinfo


def _is_numeric(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every non-loopback connect and every real name lookup raise ``NetworkBlockedError``."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo(socket.getaddrinfo))
