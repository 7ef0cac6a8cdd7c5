"""Addresses: which hosts mean "every interface", the dual-stack rule, and how to write one;
and the first byte by which a TLS connection is told from plain HTTP.

A leaf module: the CLI's banner and its bind path read these without importing the server.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

# Hosts that mean "every address" rather than one interface.
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
# Every TLS connection starts with a record of content type handshake (22, RFC 8446 §5.1); no
# HTTP request starts with this byte.
TLS_HANDSHAKE_RECORD = 0x16


def allow_dual_stack(sock: socket.socket, host: str) -> None:
    """``::`` means every address, IPv4 too, whatever the system's ``bindv6only`` says."""
    if host == "::" and sock.family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)


def host_port(host: str, port: int) -> str:
    """``127.0.0.1:8000``, ``[::1]:8000``: an IPv6 address in brackets, as in URLs."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_name_port(address: Any, https: bool = False) -> tuple[str, int]:
    """SERVER_NAME and SERVER_PORT for a listening address: a wildcard is this machine's name
    (not ``socket.getfqdn()``, which can stall on a DNS timeout); a unix socket, whose address
    is a path, is ``localhost`` and the scheme's default port (the URL a client uses for one:
    ``http://localhost/``)."""
    if not isinstance(address, tuple):
        return "localhost", 443 if https else 80
    host, port = address[:2]
    return (socket.gethostname() if host in WILDCARD_HOSTS else str(host)), int(port)
