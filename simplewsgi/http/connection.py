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

Socket timeouts cost a system call to change, so a value is only set when it differs from the
one in force; a request that arrives in one read changes it twice (idle, then I/O).
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any, Callable, Optional

from simplewsgi.http.limits import SEND_SLICE


class DeadlineExceeded(socket.timeout):
    """The client did not send what it had to within its deadline (a head, a drained body)."""


class ConnectionReader(io.RawIOBase):
    """Raw reads from ``sock`` under the deadlines; the socket is the handler's to close.
    A deadline of None is no deadline."""

    def __init__(self, sock: socket.socket, io_timeout: Optional[float]) -> None:
        super().__init__()
        self._sock = sock
        self._io_timeout = io_timeout
        self._timeout = sock.gettimeout()
        self._awaiting = False  # reading a request head
        self._probing = False  # answering a peek at what is buffered: no read at all
        self._idle_timeout: Optional[float] = None
        self._head_timeout: Optional[float] = None
        self.head_started = 0.0  # monotonic time of the current head's first byte; 0: none yet
        self._deadline = float("inf")  # reads must be done by then (a head, a drain)

    def await_head(
        self,
        idle_timeout: Optional[float],
        head_timeout: Optional[float],
        buffered: Callable[[], bytes],
    ) -> None:
        """The next reads are a request head: wait ``idle_timeout`` for its first byte, then
        ``head_timeout`` from it for the rest. ``buffered`` peeks at what the buffer above
        holds already: a pipelined head's first bytes may be there."""
        self._awaiting = True
        self._idle_timeout = idle_timeout
        self._head_timeout = head_timeout
        self.head_started = 0.0
        self._deadline = float("inf")
        self._probing = True
        try:
            waiting = buffered()
        finally:
            self._probing = False
        if waiting:
            self._head_begins()

    def head_done(self) -> None:
        """The head is in (or the drain over); back to the I/O timeout, no overall deadline."""
        self._awaiting = False
        self._deadline = float("inf")
        self._set_timeout(self._io_timeout)

    def within(self, seconds: float) -> None:
        """The next reads must all be done within ``seconds`` (until :meth:`head_done`)."""
        self._deadline = time.monotonic() + seconds

    def _head_begins(self) -> None:
        self.head_started = time.monotonic()
        limit = self._head_timeout
        self._deadline = float("inf") if limit is None else self.head_started + limit

    def readinto(self, buffer: Any) -> Optional[int]:
        if self._probing:
            return None  # "nothing without waiting": the peek returns what is buffered
        if self._awaiting and not self.head_started:  # no byte of this head yet: idle
            self._set_timeout(self._idle_timeout)
            count = self._sock.recv_into(buffer)
            if count:
                self._head_begins()
            return count
        deadline = self._deadline
        if deadline != float("inf"):
            left = deadline - time.monotonic()
            if left <= 0:
                what = "request head" if self._awaiting else "rest of the request body"
                raise DeadlineExceeded(f"{what} not received in time")
            io_timeout = self._io_timeout
            self._set_timeout(left if io_timeout is None else min(left, io_timeout))
        return self._sock.recv_into(buffer)

    def _set_timeout(self, timeout: Optional[float]) -> None:
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._sock.fileno()


class SocketWriter(io.BufferedIOBase):
    """The connection's output: writes are sent at once, in slices of ``SEND_SLICE``, so the
    socket's timeout waits on a client that stopped reading, not on one reading steadily."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        with memoryview(data) as view:
            size = view.nbytes
            if size <= SEND_SLICE:
                self._sock.sendall(view)
            else:
                for start in range(0, size, SEND_SLICE):
                    self._sock.sendall(view[start : start + SEND_SLICE])
        return size

    def fileno(self) -> int:
        return self._sock.fileno()
