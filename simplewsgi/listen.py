"""The one place where the command creates or adopts listening sockets.

:func:`open_listeners` decides what to listen on, in this order: the sockets systemd passed
(``LISTEN_FDS``, when ``LISTEN_PID`` is ours), an inherited descriptor (``--fd``), a unix socket
(``--uds``), else TCP on every ``--host`` at one ``--port`` (``localhost`` means both
``127.0.0.1`` and ``::1``, as browsers try ``::1`` first). Plain serving builds its server on
them through ``make_server``; the reloader's supervisor opens them once and every worker
inherits them, their numbers in :data:`LISTEN_FD_ENV`, and adopts them with
:func:`adopt_listeners`. Only the process that opened them closes them for good, and removes
the unix socket's file (:meth:`Listeners.close`).

An address in use is an :class:`AddressInUseError` that names who holds it (from ``/proc`` on
Linux); any other failure is a :class:`ListenError` saying what to try instead.
(``WSGIServer`` used as a library binds in its own ``server_bind``, as wsgiref's does; the
dual-stack rule for ``::`` is :func:`~simplewsgi.http.net.allow_dual_stack` in both.)
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import socket
from typing import TYPE_CHECKING, Any, Optional

from simplewsgi.http.limits import LISTEN_BACKLOG
from simplewsgi.http.net import allow_dual_stack, host_port

if TYPE_CHECKING:
    from collections.abc import Iterable

    from simplewsgi.options import ServeOptions

LISTEN_FD_ENV = "SIMPLEWSGI_LISTEN_FDS"  # "3,4": the listening sockets a worker inherits
SYSTEMD_FIRST_FD = 3  # sd_listen_fds(3): passed sockets start at descriptor 3
SYSTEMD_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
LOCALHOST_ADDRESSES = ("127.0.0.1", "::1")
# With --port 0 and several addresses, the first picks a port and the others take the same;
# when one of them has it taken already, everything is tried again on a new port.
SHARED_PORT_ATTEMPTS = 10


class ListenError(OSError):
    """The server cannot listen where it was asked; the message says what to do instead."""


class AddressInUseError(ListenError):
    """The address (a port, a unix socket) is taken; the message names the holder if known.
    ``host`` and ``port`` say which TCP address (None for a unix socket, or when no port was
    free on all hosts)."""

    host: Optional[str] = None
    port: Optional[int] = None


def cannot_listen(where: str, error: OSError, hint: Optional[str] = None) -> ListenError:
    text = f"cannot listen on {where}: {error.strerror or error}"
    return ListenError(error.errno, f"{text}; {hint}" if hint else text)


def port_in_use(host: str, port: int, name_holder: bool = True) -> AddressInUseError:
    """``name_holder``: look the holder up in /proc (a scan of every process: not for probes)."""
    holder = None
    if name_holder:
        from simplewsgi.portholder import socket_holder  # here: only a refusal needs it

        holder = socket_holder(host, port)
    text = f"port {port} is already in use on {host_port(host, port)}"
    text += f" by {holder}" if holder else ""
    error = AddressInUseError(
        errno.EADDRINUSE, text + "; pick another with --port, or --port 0 for any"
    )
    error.host, error.port = host, port
    return error


# Why binding a TCP address failed, in words a user can act on (the OS message alone is cryptic).
_TCP_HINTS = {
    errno.EACCES: "ports below 1024 need privileges; use a higher --port",
    errno.EADDRNOTAVAIL: "that address is not one of this machine's; try --host 127.0.0.1",
}


class Listeners:
    """The listening sockets of this process, and the unix socket files it made."""

    def __init__(self, sockets: list[socket.socket], made: Iterable[tuple[str, int]] = ()):
        self.sockets = sockets
        self._made = list(made)  # (path, inode) of unix sockets bound here, removed by close()

    def addresses(self) -> list[Any]:
        """Each socket's own address: ``(host, port, ...)``, or a unix socket's path."""
        return [sock.getsockname() for sock in self.sockets]

    def close(self) -> None:
        """Close every socket, and remove the files of the unix sockets made here, unless
        another server has replaced them since."""
        for sock in self.sockets:
            sock.close()
        for path, inode in self._made:
            try:
                if os.lstat(path).st_ino == inode:
                    os.unlink(path)
            except OSError:
                pass
        self._made = []


def open_listeners(options: ServeOptions, *, inheritable: bool = False) -> Listeners:
    """The sockets to serve ``options`` on (``inheritable``: by the reloader's workers)."""
    listeners = _activated() or _opened(options)
    try:
        for sock in listeners.sockets:
            sock.set_inheritable(inheritable)
    except BaseException:
        listeners.close()
        raise
    return listeners


def _opened(options: ServeOptions) -> Listeners:
    if options.fd is not None:
        return Listeners([adopt_inherited(options.fd, f"--fd {options.fd}")])
    if options.uds is not None:
        return _unix(options.uds)
    return Listeners(bind_tcp(options.host, options.port))


def _activated() -> Optional[Listeners]:
    """The sockets systemd (or any socket activator) passed us, per sd_listen_fds(3); the
    variables are removed so that the app's own children do not take them for theirs."""
    count = activated_count()
    if count is None:
        return None
    for name in SYSTEMD_VARIABLES:
        os.environ.pop(name, None)
    if not (count.isascii() and count.isdigit()):
        raise ListenError(
            errno.EINVAL,
            f"cannot use the sockets passed by socket activation: LISTEN_FDS={count!r} is not "
            "a number of descriptors",
        )
    sockets: list[socket.socket] = []
    try:
        for fd in range(SYSTEMD_FIRST_FD, SYSTEMD_FIRST_FD + int(count)):
            sockets.append(adopt_inherited(fd, f"socket-activation descriptor {fd}"))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return Listeners(sockets) if sockets else None


def activated_count() -> Optional[str]:
    """``LISTEN_FDS`` when socket activation is meant for this process (``LISTEN_PID`` is
    ours) and passed sockets, else None (``0`` or empty: none passed, as sd_listen_fds says)."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    count = os.environ.get("LISTEN_FDS")
    return None if count is None or count.strip() in ("", "0") else count


def expand_hosts(hosts: Iterable[str]) -> list[str]:
    """The addresses to bind, in order: ``localhost`` is 127.0.0.1 and ::1; spellings of one
    address count once (``0:0::1`` is ``::1``, ``""`` is ``0.0.0.0``); an address a wildcard
    already covers is left out (``0.0.0.0`` covers IPv4, ``::`` everything), since binding it
    too would fail."""
    addresses: dict[str, str] = {}  # canonical form -> the spelling given first
    for host in hosts:
        for address in LOCALHOST_ADDRESSES if host.lower() == "localhost" else (host,):
            key = _canonical(address)
            # A shorthand only inet_aton reads (127.1, 127.000.000.001) is bound as what it
            # means, so that messages and the port holder's lookup name the real address.
            addresses.setdefault(key, key if _is_shorthand(address) else address)
    if "::" in addresses:
        return [addresses["::"]]
    if "0.0.0.0" in addresses:
        return [given for key, given in addresses.items() if key == "0.0.0.0" or ":" in key]
    return list(addresses.values())


def _canonical(host: str) -> str:
    """One spelling per address: compressed IPv6, IPv4-mapped as IPv4, IPv4 shorthands as
    the socket calls read them (``127.1`` is 127.0.0.1); names lowercased."""
    try:
        address = ipaddress.ip_address(host or "0.0.0.0")
    except ValueError:
        if _is_shorthand(host):
            with contextlib.suppress(OSError):
                return socket.inet_ntoa(socket.inet_aton(host))
        return host.lower()
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped if mapped is not None else address)


def _is_shorthand(host: str) -> bool:
    """An IPv4 address in a form only inet_aton reads: fewer parts, leading zeros, hex."""
    part = r"(?:0[xX][0-9a-fA-F]+|[0-9]+)"
    return re.fullmatch(rf"{part}(?:\.{part}){{0,3}}", host) is not None


def bind_tcp(hosts: Iterable[str], port: int, name_holder: bool = True) -> list[socket.socket]:
    """Listening TCP sockets on every host at one port (with ``port`` 0, one free port for
    all). ``::1`` from ``localhost`` is skipped on a machine without IPv6. ``name_holder``:
    an address in use names its holder (see :func:`port_in_use`)."""
    addresses = expand_hosts(hosts)
    optional = {"::1"} if "::1" not in hosts else set()
    for _ in range(SHARED_PORT_ATTEMPTS if port == 0 else 1):
        sockets: list[socket.socket] = []
        chosen = port
        try:
            for host in addresses:
                try:
                    sock = bind_listener(host, chosen, name_holder=name_holder)
                except AddressInUseError:
                    if port == 0 and sockets:
                        break  # the port the first one picked is taken here: another port
                    raise
                except ListenError as error:
                    if host in optional and error.errno in _NO_IPV6:
                        continue
                    raise
                sockets.append(sock)
                chosen = sock.getsockname()[1]
            else:
                return sockets
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        for sock in sockets:
            sock.close()
    raise AddressInUseError(
        errno.EADDRINUSE,
        f"no port was free on all of {', '.join(addresses)} in {SHARED_PORT_ATTEMPTS} tries; "
        "give one with --port",
    )


def first_free_port(hosts: Iterable[str], ports: Iterable[int]) -> Optional[int]:
    """The first of ``ports`` free on every address ``hosts`` stands for, found by binding
    them as serving will (and closing them again), or None. Another failure to listen (an
    address not ours) is raised: no port would help."""
    hosts = list(hosts)
    for port in ports:
        try:
            sockets = bind_tcp(hosts, port, name_holder=False)
        except AddressInUseError:
            continue
        for sock in sockets:
            sock.close()
        return port
    return None


# Binding ::1 fails with these where IPv6 is off.
_NO_IPV6 = frozenset(
    getattr(errno, name) for name in ("EADDRNOTAVAIL", "EAFNOSUPPORT") if hasattr(errno, name)
)


def bind_listener(
    host: str, port: int, *, inheritable: bool = False, name_holder: bool = True
) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``inheritable``: by child processes)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:  # no IPv6 in this kernel
        raise cannot_listen(host_port(host, port), error) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        allow_dual_stack(sock, host)
        try:
            sock.bind((host, port))
        except OSError as error:
            if is_addr_in_use(error):
                raise port_in_use(host, port, name_holder) from None
            raise cannot_listen(
                host_port(host, port), error, _TCP_HINTS.get(error.errno or 0)
            ) from error
        sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(inheritable)
    except BaseException:
        sock.close()
        raise
    return sock


def is_addr_in_use(error: OSError) -> bool:
    return error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))


def _unix(path: str) -> Listeners:
    from simplewsgi.unixsocket import UnixSocketError, UnixSocketInUse, bind_unix

    try:
        sock, inode = bind_unix(path)
    except UnixSocketInUse as error:
        raise AddressInUseError(error.errno, error.strerror) from None
    except UnixSocketError as error:
        raise ListenError(error.errno, error.strerror) from None
    return Listeners([sock], [(os.path.abspath(path), inode)])


def adopt_inherited(fd: int, what: str) -> socket.socket:
    """A listening stream socket from an inherited descriptor (``--fd``, systemd); one that
    is bound but not listening yet is made to listen. An unbound one is refused: listen()
    would bind it to every interface on a random port."""
    try:
        sock = socket.socket(fileno=fd)
    except (OSError, ValueError, OverflowError) as error:
        hint = "pass the descriptor of a bound stream socket"
        if not isinstance(error, OSError):
            error = OSError(errno.EBADF, "not a file descriptor")
        raise cannot_listen(what, error, hint) from None
    try:
        if sock.type != socket.SOCK_STREAM:
            raise OSError(errno.EPROTOTYPE, "not a stream (TCP or unix) socket")
        if _unbound(sock.getsockname()):
            raise OSError(errno.EDESTADDRREQ, "the socket is not bound to an address")
        accepting = getattr(socket, "SO_ACCEPTCONN", None)
        if accepting is None or not sock.getsockopt(socket.SOL_SOCKET, accepting):
            sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(False)
    except OSError as error:
        sock.detach()  # not ours to close: the descriptor stays as it was
        raise cannot_listen(
            what, error, "bind it before passing it" if error.errno == errno.EDESTADDRREQ else None
        ) from None
    return sock


def _unbound(address: Any) -> bool:
    if isinstance(address, tuple):
        return int(address[1]) == 0
    return not address  # an unnamed unix socket


def adopt_listeners(fds: Iterable[int]) -> list[socket.socket]:
    """A worker's listening sockets, from the descriptors its supervisor passed."""
    return [socket.socket(fileno=fd) for fd in fds]
