"""An ``HTTPServer`` that accepts on several listening sockets: ``localhost`` is two (127.0.0.1
and ::1), ``--host`` may be given more than once, systemd may pass several.

socketserver waits on ``self.socket`` alone. With more sockets (:meth:`ListeningServer.listen_on`)
the two accept loops, ``serve_forever`` and ``handle_request``, wait on all of them, with
socketserver's own stop flag and shut-down event so that ``shutdown()`` and a stop requested
from a signal handler work unchanged; ``get_request`` accepts from the one found ready. With one
socket, socketserver's loops run as they are.
"""

from __future__ import annotations

import selectors
import time
from http.server import HTTPServer
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import socket
    import threading
    from collections.abc import Sequence


class ListeningServer(HTTPServer):
    """``HTTPServer`` serving every socket given to :meth:`listen_on`."""

    several_listeners = False  # read by handlers: which listener took a connection matters
    _more_sockets: tuple[socket.socket, ...] = ()  # listened to beside self.socket
    _accepting: Optional[socket.socket] = None  # the one an accept loop found ready
    # socketserver's stop flag and shut-down event (BaseServer's private names)
    _BaseServer__shutdown_request: bool
    _BaseServer__is_shut_down: threading.Event

    def listen_on(self, sockets: Sequence[socket.socket]) -> None:
        """Serve on these listening sockets instead of the one made by ``__init__``."""
        self.socket.close()
        self.socket = sockets[0]
        self._more_sockets = tuple(sockets[1:])
        self.several_listeners = bool(self._more_sockets)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        if not self._more_sockets:
            super().serve_forever(poll_interval)
            return
        stopped = self._BaseServer__is_shut_down
        stopped.clear()
        try:
            with self._listening() as selector:
                while not self._BaseServer__shutdown_request:
                    self._accept_ready(selector, poll_interval)
                    self.service_actions()
        finally:
            self._BaseServer__shutdown_request = False
            stopped.set()

    def handle_request(self) -> None:
        if not self._more_sockets:
            super().handle_request()
            return
        timeout = self.socket.gettimeout()
        if timeout is None or (self.timeout is not None and self.timeout < timeout):
            timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._listening() as selector:
            while not self._accept_ready(selector, timeout, only_one=True):
                if deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout < 0:
                        self.handle_timeout()
                        return

    def get_request(self) -> tuple[Any, Any]:
        listener = self._accepting
        return super().get_request() if listener is None else listener.accept()

    def server_close(self) -> None:
        super().server_close()
        for listener in self._more_sockets:
            listener.close()

    def _listening(self) -> selectors.BaseSelector:
        selector = selectors.DefaultSelector()
        for listener in (self.socket, *self._more_sockets):
            selector.register(listener, selectors.EVENT_READ)
        return selector

    def _accept_ready(
        self, selector: selectors.BaseSelector, timeout: Optional[float], only_one: bool = False
    ) -> bool:
        """Accept a connection from each listening socket ready within ``timeout`` (from the
        first only, with ``only_one``); whether any was ready."""
        ready = selector.select(timeout)
        for key, _ in ready[:1] if only_one else ready:
            self._accepting = key.fileobj  # type: ignore[assignment]
            try:
                self._handle_request_noblock()  # type: ignore[attr-defined]
            finally:
                self._accepting = None
        return bool(ready)
