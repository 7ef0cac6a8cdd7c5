"""The input side of a connection, with the deadlines that bound a client.

The handler reads through a buffered reader over :class:`ConnectionReader`, whose raw reads
enforce, with socket timeouts:

- the idle wait for the first byte of a request head (``KEEP_ALIVE_TIMEOUT`` between requests,
  ``HEADER_TIMEOUT`` for a new connection's first): then the connection is closed quietly;
- the head's deadline, from its first byte: the whole head must be in within
  ``HEADER_TIMEOUT``, however its bytes trickle in (each read waits only what is left);
- any other read (a body) waits at most the I/O timeout, as sends do.

Socket timeouts cost a system call to change, so a value is only set when it differs from the
one in force; a request that arrives in one read changes it twice (idle, then I/O).
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any, Optional


class HeadTimeout(socket.timeout):
    """The request head did not arrive completely within its deadline."""


class ConnectionReader(io.RawIOBase):
    """Raw reads from ``sock`` under the deadlines; the socket is the handler's to close.
    A deadline of None is no deadline."""

    def __init__(self, sock: socket.socket, io_timeout: Optional[float]) -> None:
        super().__init__()
        self._sock = sock
        self._io_timeout = io_timeout
        self._timeout = sock.gettimeout()
        self._awaiting = False  # reading a request head
        self._idle_timeout: Optional[float] = None
        self._head_timeout: Optional[float] = None
        self.head_started = 0.0  # monotonic time of the current head's first byte; 0: none yet
        self._deadline = 0.0

    def await_head(self, idle_timeout: Optional[float], head_timeout: Optional[float]) -> None:
        """The next reads are a request head: wait ``idle_timeout`` for its first byte, then
        ``head_timeout`` from it for the rest."""
        self._awaiting = True
        self._idle_timeout = idle_timeout
        self._head_timeout = head_timeout
        self.head_started = 0.0

    def head_done(self) -> None:
        """The head is in; back to the I/O timeout (for the body, and for the response)."""
        self._awaiting = False
        self._set_timeout(self._io_timeout)

    def readinto(self, buffer: Any) -> int:
        if self._awaiting:
            if not self.head_started:  # no byte of this head yet: the idle wait
                self._set_timeout(self._idle_timeout)
                count = self._sock.recv_into(buffer)
                if count:
                    self.head_started = time.monotonic()
                    limit = self._head_timeout
                    self._deadline = float("inf") if limit is None else self.head_started + limit
                return count
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise HeadTimeout(f"request head not complete within {self._head_timeout:g} s")
            if left != float("inf"):
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
