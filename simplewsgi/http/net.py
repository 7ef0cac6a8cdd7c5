"""Addresses: which hosts mean "every interface", the dual-stack rule, and how to write one.

A leaf module: the CLI's banner and its bind path read these without importing the server.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

# Hosts that mean "every address" rather than one interface.
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def allow_dual_stack(sock: socket.socket, host: str) -> None:
    """``::`` means every address, IPv4 too, whatever the system's ``bindv6only`` says."""
    if host == "::" and sock.family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)


def host_port(host: str, port: int) -> str:
    """``127.0.0.1:8000``, ``[::1]:8000``: an IPv6 address in brackets, as in URLs."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_name_port(address: Any) -> tuple[str, int]:
    """SERVER_NAME and SERVER_PORT for a listening address: a wildcard is this machine's name
    (not ``socket.getfqdn()``, which can stall on a DNS timeout); a unix socket, whose address
    is a path, is ``localhost`` port 80 (the name a client puts in Host for one)."""
    if not isinstance(address, tuple):
        return "localhost", 80
    host, port = address[:2]
    return (socket.gethostname() if host in WILDCARD_HOSTS else str(host)), int(port)
