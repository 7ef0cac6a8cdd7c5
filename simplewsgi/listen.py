"""The one place where the command creates or adopts listening sockets.

Plain serving and the reloader's supervisor both bind with :func:`bind_listener`; plain
serving then builds the server through ``make_server`` on that socket, and the supervisor hands
it to each worker as an inherited file descriptor named in :data:`LISTEN_FD_ENV`, where
:func:`adopt_listener` picks it up and the worker builds its server on it. A port already in
use is a :class:`PortInUseError` that names who holds it (from ``/proc`` on Linux); any other
bind failure is a :class:`ListenError` saying what to try instead.
(``WSGIServer`` used as a library binds in its own ``server_bind``, as wsgiref's does; the
dual-stack rule for ``::`` is :func:`~simplewsgi.http.net.allow_dual_stack` in both.)
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Optional

from simplewsgi.http.limits import LISTEN_BACKLOG
from simplewsgi.http.net import allow_dual_stack, host_port

LISTEN_FD_ENV = "SIMPLEWSGI_LISTEN_FD"
MAX_SHOWN_COMMAND = 200  # of the port holder's command line: enough to recognise it


class PortInUseError(OSError):
    """The address is taken; ``holder`` describes the process holding it, when we can tell."""

    def __init__(self, host: str, port: int, holder: Optional[str]) -> None:
        self.host, self.port, self.holder = host, port, holder
        text = f"port {port} is already in use on {host_port(host, port)}"
        if holder:
            text += f" by {holder}"
        super().__init__(errno.EADDRINUSE, text + "; pick another with --port, or --port 0 for any")


# Why binding failed, in words a user can act on (the OS message alone is cryptic).
_LISTEN_HINTS = {
    errno.EACCES: "ports below 1024 need privileges; use a higher --port",
    errno.EADDRNOTAVAIL: "that address is not one of this machine's; try --host 127.0.0.1",
}


class ListenError(OSError):
    """The server could not listen on host:port for a reason other than the port being taken."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        text = f"cannot listen on {host_port(host, port)}: {error.strerror or error}"
        hint = _LISTEN_HINTS.get(error.errno or 0)
        super().__init__(error.errno, f"{text}; {hint}" if hint else text)


def is_addr_in_use(error: OSError) -> bool:
    return error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))


def bind_listener(host: str, port: int, *, inheritable: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``inheritable``: by child processes)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        allow_dual_stack(sock, host)
        try:
            sock.bind((host, port))
        except OSError as error:
            if is_addr_in_use(error):
                raise PortInUseError(host, port, describe_port_holder(port)) from None
            raise ListenError(host, port, error) from error
        sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(inheritable)
    except BaseException:
        sock.close()
        raise
    return sock


def adopt_listener(fd: int) -> socket.socket:
    """The listening socket a supervisor handed us as file descriptor ``fd``."""
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)
    return sock


def describe_port_holder(port: int) -> Optional[str]:
    """``"PID 123 (python app.py)"`` for the process listening on ``port``; None if unknown.

    Linux only: finds the socket's inode in /proc/net/tcp{,6}, then the process whose fd
    points at it. Processes of other users are usually unreadable; then we say nothing.
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    raw = (proc / "cmdline").read_bytes().decode(errors="replace")
                    cmdline = " ".join(raw.replace("\0", " ").split())  # one line, always
                    return f"PID {proc.name} ({cmdline[:MAX_SHOWN_COMMAND]})"
        except OSError:
            continue
    return None
