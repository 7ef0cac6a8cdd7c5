"""``--live``: the open pages of one worker, and the server-sent events that tell them what changed.

Rules, and why:

- Every event stream starts with ``hello``: the worker's *generation* (a number the supervisor
  gives each worker it tells to serve, larger for a later one) and whether the last reload
  failed. A page knows the generation that served it (the injected script carries it), so a
  stream that reconnects to a newer worker is the sign to reload: the refresh happens only
  once the new worker serves, never against a dead server or a stale page. Likewise the count
  of file changes the worker has announced: a page rendered before one, whose stream was not
  yet open to hear it (it was loading), learns of it from ``hello`` and reloads.
- A worker that stops or is replaced ends its streams (:meth:`LiveHub.close`, called by the
  server once its idle connections are closed): an open stream is a request in flight, which
  a graceful stop would otherwise wait for. Its last word is ``bye``, and the browser comes
  back at once, to the worker serving now. A stream asked for after that is answered at once
  with only a ``retry`` hint.
- At most :data:`MAX_STREAMS` streams per worker (each holds a thread), and
  :data:`MAX_STREAMS_PER_PEER` per client address, so that one client cannot take them all:
  past that, a 503. Pages share one stream per browser (the script's SharedWorker), so a
  developer never gets near either.
- What a stream says is the same for everyone, so it says nothing of the code: a failed
  reload is only announced; its details are at ``/__simplewsgi__/error``, for those who may
  read them.
- A comment line every :data:`PING_SECONDS` keeps proxies from timing the stream out and lets
  the server notice a client that went away.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _typeshed.wsgi import WSGIApplication

MAX_STREAMS = 128
MAX_STREAMS_PER_PEER = 16
PING_SECONDS = 15.0
RETRY_MS = 250  # how soon a browser reconnects a stream that ended (EventSource's retry)
CLOSE_WAIT = 1.0  # how long close() waits for the streams' threads to let go

# What a stream carries (``event:`` names); the script knows the same names. BYE is the last
# word of a worker that stops: the browser comes back at once (to the worker serving now)
# instead of after the retry delay.
HELLO, RELOAD, CSS, FAILED, BYE = "hello", "reload", "css", "failed", "bye"


def event(kind: str, data: Any) -> bytes:
    """One server-sent event; ``data`` as JSON on one line (JSON escapes every newline)."""
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class LiveHub:
    """The streams open on this worker; thread-safe. ``error_page(report)`` makes the WSGI app
    that shows a failed reload's report (the reloader's error page, with its rules on who may
    read the details)."""

    def __init__(
        self,
        generation: int,
        error_page: Optional[Callable[[dict[str, Any]], WSGIApplication]] = None,
    ) -> None:
        self.generation = generation
        self.changes = 0  # file changes announced (reload, css): a page knows the count it saw
        self._error_page = error_page
        self._failure: Optional[WSGIApplication] = None
        self._lock = threading.Condition()
        self._streams: dict[queue.SimpleQueue[Optional[bytes]], str] = {}  # -> its peer
        self._closed = False

    @property
    def streams(self) -> int:
        with self._lock:
            return len(self._streams)

    @property
    def failure_page(self) -> Optional[WSGIApplication]:
        """The error page of the last failed reload, while it is the last word."""
        return self._failure

    def hello(self) -> bytes:
        failed = self._failure is not None
        return event(
            HELLO, {"generation": self.generation, "changes": self.changes, "failed": failed}
        )

    # -- what the supervisor says -----------------------------------------------------------

    def reload(self, files: list[str]) -> None:
        """Files the pages show changed (templates, scripts): reload them."""
        self._announce(RELOAD, files)

    def swap_css(self, files: list[str]) -> None:
        """Only stylesheets changed (their base names): the pages swap them in place."""
        self._announce(CSS, files)

    def _announce(self, kind: str, files: list[str]) -> None:
        with self._lock:
            self.changes += 1
            message = event(kind, {"files": files, "changes": self.changes})
            for stream in self._streams:
                stream.put(message)

    def failed(self, report: dict[str, Any]) -> None:
        """A reload failed and this worker keeps serving: the pages show the error page."""
        if self._error_page is not None:
            self._failure = self._error_page(report)
            self._broadcast(event(FAILED, {}))  # no details: anyone may open a stream

    def close(self, wait: float = CLOSE_WAIT) -> None:
        """End every stream (and refuse new ones); wait up to ``wait`` s for them to end."""
        deadline = time.monotonic() + wait
        with self._lock:
            self._closed = True
            for stream in self._streams:
                stream.put(event(BYE, {}))
                stream.put(None)
            while self._streams and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)

    # -- the streams ----------------------------------------------------------------------

    def _broadcast(self, message: bytes) -> None:
        with self._lock:
            for stream in self._streams:
                stream.put(message)

    def open(self, peer: str = "") -> Optional[Iterator[bytes]]:
        """A new stream's body for a client at ``peer``, or None when there are too many."""
        with self._lock:
            if self._closed:
                return iter([f"retry: {RETRY_MS}\n\n".encode()])  # come back: to the next worker
            mine = sum(1 for other in self._streams.values() if other == peer)
            if len(self._streams) >= MAX_STREAMS or mine >= MAX_STREAMS_PER_PEER:
                return None
            stream: queue.SimpleQueue[Optional[bytes]] = queue.SimpleQueue()
            self._streams[stream] = peer
        return _Stream(self, stream)

    def _release(self, stream: queue.SimpleQueue[Optional[bytes]]) -> None:
        with self._lock:
            self._streams.pop(stream, None)
            self._lock.notify_all()


class _Stream:
    """One stream's body. An iterator with ``close()`` rather than a generator: the server
    closes what it was given whether or not it started it, and only then is it released."""

    def __init__(self, hub: LiveHub, queue_: queue.SimpleQueue[Optional[bytes]]) -> None:
        self._hub, self._queue, self._started = hub, queue_, False

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> bytes:
        if not self._started:
            self._started = True
            return f"retry: {RETRY_MS}\n".encode() + self._hub.hello()
        try:
            message = self._queue.get(timeout=PING_SECONDS)
        except queue.Empty:
            return b": ping\n\n"
        if message is None:
            self.close()
            raise StopIteration
        return message

    def close(self) -> None:
        self._hub._release(self._queue)
