"""A connection's input and output, with the deadlines that bound a client.

The handler reads through a buffered reader over :class:`ConnectionReader`, whose raw reads
enforce, with socket timeouts:

- the idle wait for the first byte of a request head (``KEEP_ALIVE_TIMEOUT`` between requests,
  ``HEADER_TIMEOUT`` for a new connection's first): then the connection is closed quietly;
- the head's deadline, from its first byte: the whole head must be in within
  ``HEADER_TIMEOUT``, however its bytes trickle in (each read waits only what is left); bytes
  of it already buffered (pipelined behind the previous request) start the deadline too;
- after a response, the unread rest of the request body within ``DRAIN_TIMEOUT`` in all;
- any other read (a body the app reads) waits at most the I/O timeout.

It writes through :class:`SocketWriter`, which sends in slices of ``SEND_SLICE`` so that the
I/O timeout bounds a client that stops reading, not one that reads a large block steadily
(``sendall`` applies its timeout to the whole call).

Deadlines are the kernel's on Linux (``SO_RCVTIMEO`` on a blocking plain socket,
:func:`kernel_timeouts`): Python's socket timeouts make every ``recv`` and ``send`` a ``poll``
first, and every ``settimeout`` an ``ioctl``, each a system call that lets go of the GIL; with
many connections on one core each of those is a thread switch. A kernel deadline costs one
``setsockopt``, which keeps the GIL, and only when its value changes (a keep-alive GET keeps
the idle one in force: none); a read it cuts short is raised as ``socket.timeout``, as Python's
would be. A small response goes in one ``send`` that does not wait; what the socket's buffer
has no room for, a large block and ``sendfile`` go under Python's timeout, as before
(``SO_SNDTIMEO`` bounds any other send on the socket). TLS sockets, and other platforms, keep
Python's timeouts.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import time
from typing import IO, Any, Callable, Optional, cast

from simplewsgi.http.limits import SEND_SLICE


class DeadlineExceeded(socket.timeout):
    """The client did not send what it had to within its deadline (a head, a drained body)."""


_KERNEL_TIMEOUTS = sys.platform.startswith("linux") and hasattr(socket, "SO_RCVTIMEO")


def kernel_timeouts(
    sock: socket.socket, timeout: Optional[float], first_read: Optional[float]
) -> bool:
    """Put ``sock``'s deadlines in the kernel when it is a plain socket on Linux: blocking, with
    ``timeout`` as ``SO_SNDTIMEO`` and ``first_read`` (the first head's) as ``SO_RCVTIMEO``
    (None: no deadline). False, and nothing changed, for anything else (a TLS socket)."""
    if not _KERNEL_TIMEOUTS or type(sock) is not socket.socket:
        return False
    if sock.gettimeout() is not None:
        sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(first_read))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(timeout))
    return True


def _timeval(timeout: Optional[float], remember: bool = True) -> bytes:
    """A ``struct timeval`` for ``SO_RCVTIMEO``/``SO_SNDTIMEO``; zero is no deadline, so a
    deadline that is (nearly) due is one microsecond. The configured timeouts are packed once
    (``remember``); what is left of a deadline varies, and is not kept."""
    value = _TIMEVALS.get(timeout)
    if value is None:
        micro = max(round(cast(float, timeout) * 1_000_000), 1)
        value = struct.pack("@ll", micro // 1_000_000, micro % 1_000_000)
        if remember and len(_TIMEVALS) < 16:
            _TIMEVALS[timeout] = value
    return value


_TIMEVALS: dict[Optional[float], bytes] = {None: struct.pack("@ll", 0, 0)}
_NEVER = float("inf")


class ConnectionReader(io.RawIOBase):
    """Raw reads from ``sock`` under the deadlines; the socket is the handler's to close.
    A deadline of None is no deadline."""

    def __init__(
        self,
        sock: socket.socket,
        io_timeout: Optional[float],
        kernel: bool = False,
        first_read: Optional[float] = None,
    ) -> None:
        """``kernel``: ``sock``'s deadlines are the kernel's (:func:`kernel_timeouts` made it
        so, with ``io_timeout`` and ``first_read``)."""
        super().__init__()
        self._sock = sock
        self._io_timeout = io_timeout
        self._kernel = kernel
        self._timeout = first_read if kernel else sock.gettimeout()
        self._awaiting = False  # reading a request head
        self._probing = False  # answering a peek at what is buffered: no read at all
        self._idle_timeout: Optional[float] = None
        self._head_timeout: Optional[float] = None
        self.head_started = 0.0  # monotonic time of the current head's first byte; 0: none yet
        self._deadline = _NEVER  # reads must be done by then (a head, a drain)

    def await_head(
        self,
        idle_timeout: Optional[float],
        head_timeout: Optional[float],
        buffered: Callable[[], bytes],
        waiting: Optional[bool] = None,
    ) -> None:
        """The next reads are a request head: wait ``idle_timeout`` for its first byte, then
        ``head_timeout`` from it for the rest. A pipelined head's first bytes may be in the
        buffer above already: ``waiting`` says whether, when the caller knows; else
        ``buffered`` peeks at what the buffer holds."""
        self._awaiting = True
        self._idle_timeout = idle_timeout
        self._head_timeout = head_timeout
        self.head_started = 0.0
        self._deadline = _NEVER
        if waiting is None:
            self._probing = True
            try:
                waiting = bool(buffered())
            finally:
                self._probing = False
        if waiting:
            self._head_begins()

    def head_done(self) -> None:
        """The head is in (or the drain over); back to the I/O timeout, no overall deadline.
        A kernel deadline for reads changes at the next read, if there is one before the next
        head (a keep-alive GET keeps the idle one: no system call), since sends have their
        own; Python's covers sends too, so it changes now."""
        self._awaiting = False
        self._deadline = _NEVER
        if not self._kernel:
            self._set_timeout(self._io_timeout)

    def within(self, seconds: float) -> None:
        """The next reads must all be done within ``seconds`` (until :meth:`head_done`)."""
        self._deadline = time.monotonic() + seconds

    def _head_begins(self) -> None:
        self.head_started = time.monotonic()
        limit = self._head_timeout
        self._deadline = _NEVER if limit is None else self.head_started + limit

    def readinto(self, buffer: Any) -> Optional[int]:
        if self._probing:
            return None  # "nothing without waiting": the peek returns what is buffered
        if self._awaiting and not self.head_started:  # no byte of this head yet: idle
            self._set_timeout(self._idle_timeout)
            count = self._recv_into(buffer)
            if count:
                self._head_begins()
            return count
        deadline = self._deadline
        if deadline != _NEVER:
            left = deadline - time.monotonic()
            if left <= 0:
                what = "request head" if self._awaiting else "rest of the request body"
                raise DeadlineExceeded(f"{what} not received in time")
            io_timeout = self._io_timeout
            self._set_timeout(left if io_timeout is None else min(left, io_timeout), False)
        elif self._kernel and not self._awaiting:
            self._set_timeout(self._io_timeout)  # head_done() left the idle one in force
        return self._recv_into(buffer)

    def _recv_into(self, buffer: Any) -> int:
        try:
            return self._sock.recv_into(buffer)
        except BlockingIOError:
            if self._kernel:  # SO_RCVTIMEO ran out
                raise socket.timeout("timed out") from None
            raise

    def _set_timeout(self, timeout: Optional[float], configured: bool = True) -> None:
        if timeout != self._timeout:
            if self._kernel:
                value = _timeval(timeout, configured)
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            else:
                self._sock.settimeout(timeout)
            self._timeout = timeout

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._sock.fileno()


class SocketWriter(io.BufferedIOBase):
    """The connection's output: writes are sent at once, in slices of ``SEND_SLICE``, each within
    the I/O timeout, so the deadline waits on a client that stopped reading, not on one reading
    steadily. ``kernel``: the socket's deadlines are the kernel's (:func:`kernel_timeouts`)."""

    def __init__(
        self, sock: socket.socket, io_timeout: Optional[float] = None, kernel: bool = False
    ) -> None:
        super().__init__()
        self._sock = sock
        self._io_timeout = io_timeout
        self._kernel = kernel and io_timeout is not None  # else a blocking send is all

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._kernel and type(data) is bytes and len(data) <= SEND_SLICE:
            self._send_now(data, len(data))  # the usual: a response's head and body at once
            return len(data)
        with memoryview(data) as view:
            size = view.nbytes
            if not self._kernel:
                self._send_slices(view)
            elif size <= SEND_SLICE:
                self._send_now(view, size)
            else:  # a large block: under Python's timeout for the call, slice by slice
                self._sock.settimeout(self._io_timeout)
                try:
                    self._send_slices(view)
                finally:
                    self._sock.settimeout(None)
        return size

    def _send_slices(self, view: memoryview) -> None:
        size = view.nbytes
        if size <= SEND_SLICE:
            self._sock.sendall(view)
        else:
            for start in range(0, size, SEND_SLICE):
                self._sock.sendall(view[start : start + SEND_SLICE])

    def _send_now(self, data: bytes | memoryview, size: int) -> None:
        """A small block with kernel deadlines: one ``send`` that does not wait takes what the
        socket's buffer has room for (all of it, for a small response to a reading client);
        the rest goes by ``sendall`` under a Python timeout, as ``sendall``'s timeout covers
        its whole call (a blocking ``send`` would wait for room for all of it at once, past a
        deadline a steady reader meets)."""
        sock = self._sock
        try:
            sent = sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent < size:
            sock.settimeout(self._io_timeout)
            try:
                with memoryview(data) as view, view.cast("B") as octets:
                    sock.sendall(octets[sent:])  # bytes, whatever the buffer's items are
            finally:
                sock.settimeout(None)

    def sendfile(self, file: IO[bytes], offset: int, count: int) -> int:
        """``socket.sendfile`` of ``count`` bytes of ``file`` from ``offset``, within the I/O
        timeout (Python's, for the call: its loop would wait forever on a kernel deadline)."""
        sock = self._sock
        if not self._kernel:
            return sock.sendfile(file, offset, count)
        sock.settimeout(self._io_timeout)
        try:
            return sock.sendfile(file, offset, count)
        finally:
            sock.settimeout(None)

    def fileno(self) -> int:
        return self._sock.fileno()
