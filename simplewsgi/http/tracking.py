"""What the server keeps track of: where each connection is, and troubles that recur.

A connection is waiting for a request head (its first, or the next on keep-alive) or has one in
flight; the handler says which by entering the contexts below, made once per connection and
entered once per request (so they must stay this cheap). A trouble is a failure that recurs
while a limit is hit (no thread, no file descriptor, too many connections): said when it
starts, at most once per ``TROUBLE_LOG_INTERVAL``, and its end said when its start was.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from simplewsgi.http.limits import TROUBLE_LOG_INTERVAL

if TYPE_CHECKING:
    from types import TracebackType

    from simplewsgi.http.server import WSGIServer


class Member:
    """While entered, ``conn`` is in the server's set ``members`` (made once per connection
    and entered once per request, so it must stay this cheap)."""

    __slots__ = ("conn", "members", "server")

    def __init__(self, server: WSGIServer, members: set[Any], conn: Any) -> None:
        self.server, self.members, self.conn = server, members, conn

    def __enter__(self) -> bool:
        self.members.add(self.conn)
        return True

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.members.discard(self.conn)


class AwaitingRequest(Member):
    """While entered, ``conn`` waits for a request head and may be closed by a stop; the
    value is False when the stop has closed the idle connections already."""

    __slots__ = ()

    def __enter__(self) -> bool:
        self.members.add(self.conn)
        server = self.server
        return not (
            server.closing
            and self.members is server._idle
            and time.monotonic() >= server.idle_cut_at
        )


class Trouble:
    """A failure that recurs while a limit is hit: said when it starts, and its end said when
    its start was; at the edge of a limit it comes and goes, so a start is said at most once
    per ``TROUBLE_LOG_INTERVAL``."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._active = False
        self._said = False
        self._said_at = -TROUBLE_LOG_INTERVAL

    def happened(self, message: str) -> None:
        if self._active:
            return
        self._active = True
        now = time.monotonic()
        if now - self._said_at >= TROUBLE_LOG_INTERVAL:
            self._said, self._said_at = True, now
            self._say(message)

    def ended(self, message: str) -> None:
        if self._active:
            self._active = False
            if self._said:
                self._said = False
                self._say(message)
