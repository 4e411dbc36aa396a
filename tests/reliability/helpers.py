"""Guards shared by the reliability tests (importable, unlike conftest): a network guard that
refuses non-loopback connections, and a SIGALRM time limit that turns a hang into a failure."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
from collections.abc import Iterator
from typing import Any


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1, 'localhost' and AF_UNIX paths (not network)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    """Patches socket connect/sendto/getaddrinfo; records and refuses non-loopback targets."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._saved: list[tuple[Any, str, Any]] = []

    def _refuse(self, what: str) -> None:
        self.attempts.append(what)
        raise ConnectionRefusedError(f"network guard: non-loopback {what} refused in tests")

    def install(self) -> None:
        guard = self
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_sendto = socket.socket.sendto
        real_getaddrinfo = socket.getaddrinfo

        def target(sock: socket.socket, address: Any) -> object:
            if sock.family == getattr(socket, "AF_UNIX", None):
                return None
            return address[0] if isinstance(address, tuple) else address

        def connect(sock: socket.socket, address: Any) -> Any:
            host = target(sock, address)
            if host is not None and not is_loopback(host):
                guard._refuse(f"connect to {address!r}")
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            host = target(sock, address)
            if host is not None and not is_loopback(host):
                guard._refuse(f"connect to {address!r}")
            return real_connect_ex(sock, address)

        def sendto(sock: socket.socket, data: bytes, *args: Any) -> Any:
            address = args[-1]
            host = target(sock, address)
            if host is not None and not is_loopback(host):
                guard._refuse(f"sendto {address!r}")
            return real_sendto(sock, data, *args)

        def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
            if host is not None and not is_loopback(host):
                guard._refuse(f"name lookup of {host!r}")
            return real_getaddrinfo(host, *args, **kw)

        for owner, name, new in ((socket.socket, "connect", connect),
                                 (socket.socket, "connect_ex", connect_ex),
                                 (socket.socket, "sendto", sendto),
                                 (socket, "getaddrinfo", getaddrinfo)):
            self._saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, new)

    def uninstall(self) -> None:
        while self._saved:
            owner, name, old = self._saved.pop()
            setattr(owner, name, old)


class Hang(Exception):
    """Raised by the alarm: the code under test did not return in time."""


@contextlib.contextmanager
def time_limit(seconds: int, what: str = "call") -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"{what} still running after {seconds} s (hang on hostile input?)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)

