"""The ``wsgiref.simple_server`` API: ``WSGIServer``, ``make_server`` and ``demo_app``.

Same names, signatures and hooks as the standard library (``server_bind`` -> ``setup_environ``,
``set_app``/``get_app``, ``base_environ``), so code and tests written for wsgiref keep working;
underneath, a pool of reused threads (one connection each at a time), IPv6, a real listen
backlog and a clean shutdown.

The server owns its stop policy: a handler waiting for a request head says so by entering
:meth:`WSGIServer.awaiting_request`, and :meth:`WSGIServer.server_close` decides from that which
connections it may close at once (waiting), after a grace (just accepted, or idle keep-alive
during a reloader swap), or only when their request is done (in flight).

With an ``ssl_context`` it serves HTTPS: each connection's handshake runs in its own thread
(:mod:`.tls`, from the handler's ``setup()``), never in the accept loop.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
import threading
import time
from contextlib import AbstractContextManager
from http.server import HTTPServer
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from simplewsgi.http.body import FileWrapper
from simplewsgi.http.errors import ServiceUnavailable
from simplewsgi.http.handler import _NOT_TRACKED, WSGIRequestHandler
from simplewsgi.http.limits import (
    ACCEPT_BACKOFF,
    CUT_JOIN_TIMEOUT,
    FIRST_REQUEST_GRACE,
    GRACEFUL_TIMEOUT,
    LISTEN_BACKLOG,
    REFUSAL_SEND_TIMEOUT,
    STOP_POLL,
    default_max_connections,
)
from simplewsgi.http.listening import ListeningServer
from simplewsgi.http.net import allow_dual_stack, server_name_port
from simplewsgi.http.pool import ThreadPool
from simplewsgi.http.tracking import AwaitingRequest, Member, Trouble

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable, Sequence

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class WSGIServer(ListeningServer):
    """An HTTP server that runs a WSGI application on a pool of threads, one connection each
    at a time."""

    request_queue_size = LISTEN_BACKLOG
    allow_reuse_address = True
    multithread = True
    closing = False  # set by server_close(); a class default so socketless subclasses have it
    # False: every response ends its connection (the server is stopping, or handle_request()
    # serves its one request). Read by the handler for each request.
    keep_alive = True
    _serving_one = False  # inside handle_request(): serve in the calling thread
    graceful_timeout = GRACEFUL_TIMEOUT
    # Connections served at once; more are answered 503 (http/limits.py says how it is sized).
    max_connections = default_max_connections()
    # How long server_close() keeps an idle keep-alive connection open for one more request
    # (answered with "Connection: close"). 0 closes them at once, as Ctrl+C wants; a reloader
    # swapping workers sets it, so a client's next request is answered instead of reset.
    idle_grace = 0.0
    idle_cut_at = float("inf")  # when server_close() closes idle connections
    # Called by server_close() once the waiting connections are closed, before in-flight
    # requests are waited for: ends responses that would never end by themselves (--live's
    # event streams), after no connection is left to bring a request to this server.
    end_endless: Optional[Callable[[], None]] = None
    application: Optional[WSGIApplication] = None
    base_environ: dict[str, Any]
    _ssl_context: Optional[ssl.SSLContext] = None
    # Connections waiting for a request head: their first, or the next on a keep-alive one;
    # and those whose head has arrived and whose response is not done (in flight).
    _fresh: Optional[set[Any]] = None
    _idle: Optional[set[Any]] = None
    _busy: Optional[set[Any]] = None

    def __init__(
        self,
        server_address: tuple[str, int],
        RequestHandlerClass: Callable[..., Any],
        bind_and_activate: bool = True,
        *,
        sockets: Sequence[socket.socket] = (),
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        """``sockets``: serve on these already bound, listening sockets (TCP or unix; made by
        the command, or handed over by a supervisor or systemd) instead of binding
        ``server_address``; the first is ``self.socket``. With several, a subclass that
        overrides ``get_request`` must accept through ``super().get_request()``.
        ``ssl_context``: serve HTTPS (see :attr:`ssl_context`)."""
        if ssl_context is not None:
            self.ssl_context = ssl_context
        if sockets:
            self.address_family = sockets[0].family
        elif ":" in server_address[0]:
            self.address_family = socket.AF_INET6
        self.closing = False
        self.keep_alive = True
        self._no_thread = Trouble(self._say)  # a pool thread could not be started
        self._too_many = Trouble(self._say)  # max_connections reached
        self._no_descriptor = Trouble(self._say)  # accept() ran out of file descriptors
        self._fresh = set()
        self._idle = set()
        self._busy = set()
        self._lock = threading.Lock()
        self._connections: set[Any] = set()  # sockets being served, for server_close()
        self._pool = ThreadPool(
            serve=lambda job: self._serve(*job),
            refuse=lambda job, error: self._refuse_unthreaded(job[0], error),
            started=lambda: self._no_thread.ended("threads start again; serving new connections"),
        )
        super().__init__(server_address, RequestHandlerClass, bind_and_activate=False)
        self._adopted = bool(sockets)
        if sockets:
            self.listen_on(sockets)
        if bind_and_activate:
            try:
                self.server_bind()
                self.server_activate()
            except BaseException:
                self.server_close()
                raise

    @property
    def ssl_context(self) -> Optional[ssl.SSLContext]:
        """A server-side ``ssl.SSLContext`` to serve HTTPS with (None: plain HTTP), e.g. from
        ``simplewsgi.http.tls.server_context(certfile, keyfile)``; may be set after
        ``make_server``, before serving. Apps then see ``wsgi.url_scheme`` ``https`` and
        ``HTTPS`` ``on``. A context whose ``sslsocket_class`` is the default gets the core's
        subclass, which reports a broken TLS session as a disconnect."""
        return self._ssl_context

    @ssl_context.setter
    def ssl_context(self, context: Optional[ssl.SSLContext]) -> None:
        self._ssl_context = context
        if getattr(self, "base_environ", None) is not None:
            self._set_scheme()

    def server_bind(self) -> None:
        """Bind (unless a socket was handed over), then record names and build the environ."""
        if getattr(self, "_adopted", False):
            self.server_address = self.socket.getsockname()
        else:
            allow_dual_stack(self.socket, str(self.server_address[0]))
            super(HTTPServer, self).server_bind()  # TCPServer's: bind, without getfqdn()
        self.server_name, self.server_port = server_name_port(self.server_address)
        self.setup_environ()

    def setup_environ(self) -> None:
        """The part of the environ that is the same for every request."""
        self.base_environ = {
            "SERVER_NAME": self.server_name,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PORT": str(self.server_port),
            "REMOTE_HOST": "",
            "CONTENT_LENGTH": "",
            "SCRIPT_NAME": "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.multithread": self.multithread,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        self._set_scheme()

    def _set_scheme(self) -> None:
        """``wsgi.url_scheme``, and ``HTTPS=on`` as CGI servers set it, for every request; on a
        unix socket, whose port is the scheme's, SERVER_PORT too."""
        https = self.ssl_context is not None
        environ = self.base_environ
        environ["wsgi.url_scheme"] = "https" if https else "http"
        if https:
            environ["HTTPS"] = "on"
        else:
            environ.pop("HTTPS", None)
        if not isinstance(self.server_address, tuple):
            self.server_name, self.server_port = server_name_port(self.server_address, https)
            environ["SERVER_PORT"] = str(self.server_port)

    def get_app(self) -> Optional[WSGIApplication]:
        return self.application

    def set_app(self, application: WSGIApplication) -> None:
        self.application = application

    def handle_request(self) -> None:
        """Serve one request in the calling thread, then return, as wsgiref does: when this
        returns, the app has run and its response was sent (its connection is closed after
        that one request). Scripts that catch one OAuth redirect or webhook rely on it."""
        self.keep_alive = False
        self._serving_one = True
        try:
            super().handle_request()
        finally:
            self._serving_one = False
            self.keep_alive = not self.closing

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the connection to the thread pool (in ``handle_request``: serve it here);
        beyond ``max_connections`` answer 503 and close it."""
        with self._lock:
            full = len(self._connections) >= self.max_connections
            if not full:
                self._connections.add(request)
        if full:
            self._too_many.happened(
                f"{self.max_connections} connections open, the most served at once: answering "
                "503 Service Unavailable to new ones until some close"
            )
            self._refuse(request, "too many connections are open; retry in a moment")
            return
        self._too_many.ended("connections below the limit again")
        with self._lock:
            if self._fresh is not None:
                # Waiting for its first request from now on, not once its thread runs: a
                # connection just accepted has nothing in flight.
                self._fresh.add(request)
        if self._serving_one:
            self._serve(request, client_address)
            return
        self._pool.submit((request, client_address))

    def _refuse_unthreaded(self, request: Any, error: RuntimeError) -> None:
        """No thread for this connection: answer 503, close, and say so once."""
        self._no_thread.happened(
            f"cannot start a thread for a new connection ({error}); answering "
            "503 Service Unavailable until one can be started"
        )
        self._refuse(request, "no thread is available to serve this connection")
        self._forget(request)

    def _refuse(self, request: Any, detail: str) -> None:
        """503 with Retry-After, sent without waiting on the client, then close. Over TLS just
        close: a plaintext answer is garbage to a TLS client, and a handshake here would let
        one client stall the accept loop."""
        refusal = ServiceUnavailable(detail)
        with contextlib.suppress(OSError, AttributeError):
            request.settimeout(REFUSAL_SEND_TIMEOUT)  # one client must not block the accept loop
            if self.ssl_context is None:
                request.sendall(refusal.render(self._server_header()))
        self.shutdown_request(request)

    def _server_header(self) -> str:
        handler = self.RequestHandlerClass
        version = getattr(handler, "server_version", "WSGIServer/0.2")
        return f"{version} {getattr(handler, 'sys_version', '')}".strip()

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._forget(request)

    def _forget(self, request: Any) -> None:
        """The connection is closed: no longer the server's to track."""
        with self._lock:
            self._connections.discard(request)
            if self._fresh is not None:
                self._fresh.discard(request)

    def awaiting_request(self, conn: Any, first: bool) -> AbstractContextManager[bool]:
        """Entered by a handler while it waits for a request head on ``conn`` (``first``: the
        connection's first request). Such a connection has nothing in flight, so a stop may
        close it; the context's value is False when the stop already has."""
        waiting = self._fresh if first else self._idle
        if waiting is None:
            return _NOT_TRACKED
        return AwaitingRequest(self, waiting, conn)

    def serving_request(self, conn: Any) -> AbstractContextManager[bool]:
        """Entered by a handler while it runs a request on ``conn``: from the complete head to
        the end of the response, what a graceful stop waits for."""
        if self._busy is None:
            return _NOT_TRACKED
        return Member(self, self._busy, conn)

    def request_stop(self) -> None:
        """Have ``serve_forever`` return within its poll interval, without waiting for it:
        safe in a signal handler running in the serving thread, where ``shutdown()`` would
        wait for itself, and needing no new thread (there may be none to start)."""
        if hasattr(self, "_BaseServer__shutdown_request"):  # socketserver's own stop flag
            self._BaseServer__shutdown_request = True
        else:  # pragma: no cover - another socketserver
            threading.Thread(target=self.shutdown, daemon=True).start()

    def waiting_connections(self) -> int:
        """Connections waiting for a request head (a first one, or the next on keep-alive)."""
        return len(self._idle or ()) + len(self._fresh or ())

    def requests_in_flight(self) -> int:
        """Requests whose head has arrived and whose response is not done."""
        return len(self._busy or ())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Disconnects are routine for a web server; anything else gets its traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        """Stop listening; give connections waiting for a request a short grace (a new one
        ``FIRST_REQUEST_GRACE``, an idle keep-alive one ``idle_grace``), then close them; let
        in-flight requests finish for up to ``graceful_timeout`` seconds; then cut what is left.
        """
        now = time.monotonic()
        deadline = now + self.graceful_timeout
        idle_deadline = now + min(self.idle_grace, self.graceful_timeout)
        fresh_deadline = now + min(FIRST_REQUEST_GRACE, self.graceful_timeout)
        self.idle_cut_at = idle_deadline  # read by handlers that start waiting after this
        self.closing = True
        self.keep_alive = False
        super().server_close()
        self._pool.close()
        while True:
            now = time.monotonic()
            waiting = False
            for waiting_set, cut_at in (
                (self._idle or set(), idle_deadline),
                (self._fresh or set(), fresh_deadline),
            ):
                if now >= cut_at:
                    for conn in list(waiting_set):
                        _shutdown(conn)
                elif waiting_set:
                    waiting = True
            if not waiting:
                break
            time.sleep(STOP_POLL)
        if self.end_endless is not None:
            self.end_endless()
        self._pool.join(deadline)
        cut = self.requests_in_flight()
        if cut:
            self._say(
                f"cut {cut} request(s) still running after {self.graceful_timeout:g} s; "
                "their connections were closed"
            )
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            _shutdown(conn)
        self._pool.join(time.monotonic() + CUT_JOIN_TIMEOUT)
        closed = getattr(self.RequestHandlerClass, "server_closed", None)
        if closed is not None:  # a handler class that holds log lines writes them now
            closed()

    def _say(self, message: str) -> None:
        """A line about the server itself (not a request) on stderr."""
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    def get_request(self) -> tuple[Any, Any]:
        """``accept()``; out of file descriptors, pause the accept loop instead of letting it
        spin on a listening socket that stays readable, and say so once until it recovers."""
        try:
            accepted = super().get_request()
        except OSError as error:
            if error.errno in _NO_DESCRIPTORS:
                self._no_descriptor.happened(
                    f"out of file descriptors ({error.strerror}): pausing new connections "
                    "until some close; raise the limit with ulimit -n"
                )
                time.sleep(ACCEPT_BACKOFF)
            raise
        self._no_descriptor.ended("accepting new connections again")
        return accepted


# accept() errors that mean "no descriptor for a new connection now", not "no connection".
_NO_DESCRIPTORS = frozenset(
    getattr(errno, name)
    for name in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
    if hasattr(errno, name)
)


def _shutdown(conn: Any) -> None:
    with contextlib.suppress(OSError, AttributeError):
        conn.shutdown(socket.SHUT_RDWR)


_S = TypeVar("_S", bound=WSGIServer)


def make_server(
    host: str,
    port: int,
    app: WSGIApplication,
    server_class: Callable[..., _S] = WSGIServer,  # type: ignore[assignment]
    handler_class: type[WSGIRequestHandler] = WSGIRequestHandler,
) -> _S:
    """Create a server for ``app`` on ``host:port`` (port 0 picks a free one)."""
    server = server_class((host, port), handler_class)
    server.set_app(app)
    return server


def demo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Hello world, then the request's environ, one ``key = repr(value)`` per line."""
    lines = ["Hello world!", ""]
    lines += [f"{key} = {value!r}" for key, value in sorted(environ.items())]
    body = "\n".join(lines).encode("utf-8")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
