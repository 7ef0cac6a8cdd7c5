"""``WSGIRequestHandler``: one connection, many requests, each run through the WSGI app.

Rules of this module:
- Keeps ``wsgiref.simple_server.WSGIRequestHandler``'s hooks (``get_environ``, ``get_stderr``,
  ``handle``, ``log_request``/``log_message``) and works when a subclass's ``setup()`` puts plain
  binary streams in ``rfile``/``wfile`` instead of a socket.
- Parsing and framing rules live in :mod:`.parsing`, body readers in :mod:`.body`, the response
  side of one exchange in :mod:`.response`; the stop policy is the server's (the handler only
  says when it waits for a request head, through ``server.awaiting_request``).
- The per-request path is lean on purpose: a head already received taken in one split
  (:func:`.parsing.take_head`; line by line otherwise), the environ copied from the server's
  prepared base dict (:mod:`.environ`), one send for a small response, no system call for a
  deadline that does not change (:mod:`.connection`).
- TLS (a server with an ``ssl_context``) is set up in ``setup()``, in the connection's own
  thread, through :mod:`.tls`; the server tracks the socket it accepted (``self.request``),
  the handler reads and writes the TLS one (``self.connection``) and closes it in ``finish()``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import platform
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler
from typing import IO, TYPE_CHECKING, Any, ClassVar, Optional, cast

from simplewsgi.http import parsing
from simplewsgi.http.body import ChunkedBody, FixedLengthBody, RequestBody
from simplewsgi.http.connection import ConnectionReader, SocketWriter, kernel_timeouts
from simplewsgi.http.environ import request_environ
from simplewsgi.http.errors import (
    CLIENT_GONE,
    TIMEOUTS,
    HandshakeFailed,
    HTTPError,
    NotTLS,
    RequestTimeout,
    WSGIContractError,
)
from simplewsgi.http.headers import RequestHeaders
from simplewsgi.http.limits import (
    DRAIN_TIMEOUT,
    HEADER_TIMEOUT,
    IO_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    MAX_DRAIN_BYTES,
    MAX_LOGGED_LINE,
    READ_BUFFER,
)
from simplewsgi.http.net import TLS_HANDSHAKE_RECORD, host_port, server_name_port
from simplewsgi.http.response import (
    ERROR_BODY,
    ERROR_HEADERS,
    ERROR_STATUS,
    KeepAlivePolicy,
    Response,
)
from simplewsgi.http.text import CONTROL_CHAR_ESCAPES, log_time

if TYPE_CHECKING:
    import ssl
    from contextlib import AbstractContextManager

    from _typeshed.wsgi import WSGIEnvironment

    from simplewsgi.http.server import WSGIServer


class WSGIRequestHandler(BaseHTTPRequestHandler):
    """Serves HTTP/1.1 (and 1.0) requests on one connection with the server's WSGI app."""

    # wsgiref's exact Server header ("WSGIServer/0.2 CPython/3.x"): tests written against wsgiref
    # compare whole responses. Set server_version/sys_version in a subclass to change it.
    server_version = "WSGIServer/0.2"
    sys_version = f"{platform.python_implementation()}/{sys.version.split()[0]}"
    protocol_version = "HTTP/1.1"
    # One write per small response; Nagle would delay streamed blocks by up to 40 ms.
    disable_nagle_algorithm = True
    max_drain_bytes = MAX_DRAIN_BYTES
    # The deadlines on the client (http/limits.py has why): ``timeout`` is StreamRequestHandler's
    # socket timeout, here any single send or body read; a head must arrive within
    # ``header_timeout`` of its first byte; an idle keep-alive connection is closed after
    # ``keep_alive_timeout``. None for any of them: no deadline.
    timeout: ClassVar[Optional[float]] = IO_TIMEOUT
    header_timeout: Optional[float] = HEADER_TIMEOUT
    keep_alive_timeout: Optional[float] = KEEP_ALIVE_TIMEOUT
    drain_timeout: float = DRAIN_TIMEOUT  # for the unread rest of a body, in all
    # Added to the log line about a TLS handshake on this plain port (the CLI names its options).
    tls_hint = ""

    server: WSGIServer
    request_start = 0.0  # perf_counter() when the current request line arrived
    framing: Optional[parsing.Framing] = None  # the current request's, once its head is read
    first_request = False  # True while reading and serving a connection's first request
    headers: RequestHeaders  # type: ignore[assignment]
    _socket_wfile: Optional[SocketWriter] = None  # the writer setup() made over the socket
    _reader: Optional[ConnectionReader] = None  # the deadlines' reader under rfile
    _tls: Optional[ssl.SSLSocket] = None  # the TLS session over the accepted socket
    _plain_on_tls = False  # plain HTTP came to the TLS port: answer 400 and close
    # The server's contexts for this connection: waiting for the next head, for the first,
    # and serving a request (made once per connection, entered for every request).
    _contexts: Optional[tuple[AbstractContextManager[bool], ...]] = None
    # SERVER_NAME and SERVER_PORT of the listener that accepted this connection, when the
    # server has several (else base_environ's are right).
    _local_environ: Optional[dict[str, str]] = None
    # Whether the next head's first bytes are in rfile's buffer already, when known (the
    # last head was taken whole and no body followed it); None: peek to know.
    _waiting: Optional[bool] = None
    _policy: Optional[KeepAlivePolicy] = None  # the server's say on keep-alive

    def setup(self) -> None:
        """StreamRequestHandler's, with rfile read through the deadlines' reader; over TLS
        when the server has an ``ssl_context``."""
        self.connection = self.request
        context = getattr(self.server, "ssl_context", None)
        if context is not None:
            self._secure(context)
        kernel = kernel_timeouts(self.connection, self.timeout, self.header_timeout)
        if not kernel and self.timeout is not None:
            self.connection.settimeout(self.timeout)
        if self.disable_nagle_algorithm:
            with contextlib.suppress(OSError):  # not TCP (a unix socket)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._reader = ConnectionReader(self.connection, self.timeout, kernel, self.header_timeout)
        self.rfile = io.BufferedReader(self._reader, READ_BUFFER)
        self._peek = functools.partial(self.rfile.peek, 0)  # what the buffer holds, no read
        self.wfile = SocketWriter(self.connection, self.timeout, kernel)
        # sendfile() is only safe when wfile is the socket writer setup() created: a subclass
        # that replaces wfile after this (to capture or transform output) must see every byte.
        self._socket_wfile = self.wfile
        if getattr(self.server, "several_listeners", False):  # which one took this connection
            name, port = server_name_port(self.connection.getsockname(), context is not None)
            self._local_environ = {"SERVER_NAME": name, "SERVER_PORT": str(port)}

    def _secure(self, context: ssl.SSLContext) -> None:
        """The TLS handshake, within ``header_timeout``; a failure ends the connection
        (:class:`~.tls.HandshakeFailed`, a ConnectionError) after one line saying why."""
        from simplewsgi.http import tls  # here: plain serving never loads it

        try:
            self.connection = self._tls = tls.accept(context, self.request, self.header_timeout)
        except NotTLS:
            self._plain_on_tls = True
        except HandshakeFailed as failure:
            if failure.reason and not getattr(self.server, "closing", False):  # a stop cut it
                self.log_message("%s", failure.reason)
            raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._tls is not None:
                from simplewsgi.http import tls

                tls.close(self._tls)

    def handle(self) -> None:
        """Serve requests until the connection closes (wsgiref serves just one)."""
        self.close_connection = True
        self.first_request = True
        self.handle_one_request()
        self.first_request = False
        while not self.close_connection:
            self.handle_one_request()

    def _server_contexts(self) -> tuple[AbstractContextManager[bool], ...]:
        """What the server's stop policy needs to know of this connection, as contexts:
        ``[0]`` waiting for a next request head, ``[1]`` for the first, ``[2]`` serving."""
        contexts = self._contexts
        if contexts is None:
            server, conn = self.server, self.request  # what the server accepted and tracks
            awaiting = getattr(server, "awaiting_request", None)
            serving = getattr(server, "serving_request", None)
            if awaiting is None or serving is None:  # a server of another family
                contexts = (_NOT_TRACKED,) * 3
            else:
                contexts = (awaiting(conn, False), awaiting(conn, True), serving(conn))
            self._contexts = contexts
        return contexts

    def handle_one_request(self) -> None:
        self.requestline = ""
        self.request_version = "HTTP/1.0"
        self.command = ""
        self.close_connection = True
        contexts = self._contexts or self._server_contexts()
        reader = self._reader
        try:
            # Until the head is complete nothing is in flight: a stop may close the connection
            # (a new one after a short grace, an idle keep-alive one after ``idle_grace``).
            with contexts[self.first_request] as may_read:
                if not may_read:
                    return  # server_close() already closed the idle connections
                if reader is not None:
                    if self.first_request:
                        reader.await_head(self.header_timeout, self.header_timeout, self._peek)
                        if cast(io.BufferedReader, self.rfile).peek(1)[:1] == _TLS_START:
                            self._tls_on_plain_port()
                            return
                    else:
                        reader.await_head(
                            self.keep_alive_timeout, self.header_timeout, self._peek, self._waiting
                        )
                head = parsing.take_head(self.rfile)  # the whole head in one split
                if head is None:  # line by line: not all buffered, or anything unusual in it
                    self._waiting = None
                    taken = self._read_head_lines()
                    if taken is None:
                        return
                    line, fields = taken
                else:
                    self.request_start = time.perf_counter()
                    line, fields, rest = head
                    self._waiting = rest > 0  # holds while no body is read after the head
                self.command, self.path, self.request_version, self.requestline = line[:4]
            if reader is not None:
                reader.head_done()
            if self._plain_on_tls:
                raise self._plain_http(fields)
            framing = parsing.request_framing(fields, line.version == "HTTP/1.1")
        except HTTPError as error:
            self._refuse(error)
            return
        except CLIENT_GONE as error:
            if isinstance(error, TIMEOUTS) and reader is not None and reader.head_started:
                limit = self.header_timeout
                within = "in time" if limit is None else f"within {limit:g} s"
                self._refuse(RequestTimeout(f"request head not complete {within}"))
            return  # gone, or silent for the idle timeout: a quiet close
        if framing.length:
            self._waiting = None  # the body comes between: peek after it
        self.headers = RequestHeaders(fields)
        self.framing = framing
        # While the server stops (or handle_request() serves its one request), answer this
        # request and say the connection ends with it.
        self.close_connection = not (framing.keep_alive and self.server.keep_alive)
        with contexts[2]:
            body = self._run(framing)
        if body is not None and not body.finished:  # the response is done: not in flight
            self._drain(body)  # while the rest comes in

    def _read_head_lines(self) -> Optional[tuple[parsing.RequestLine, list[tuple[str, str]]]]:
        """The head read line by line; None when there is no request to answer."""
        line = parsing.read_request_line(self.rfile)
        if line is None:
            return None
        self.request_start = time.perf_counter()
        self.command, self.path, self.request_version, self.requestline = line[:4]
        if line.terminated:
            return line, parsing.read_headers(self.rfile)
        if self.server.closing:
            return None  # our own shutdown cut this line short: not a request to answer
        return line, []  # a bare request line, then EOF (served, as http.server does)

    def _drain(self, body: RequestBody) -> None:
        """Read and discard what the app left of the request body, so the connection can
        carry the next request; within ``drain_timeout`` in all, else close."""
        reader = self._reader
        if reader is not None:
            reader.within(self.drain_timeout)
        try:
            if not body.drain(self.max_drain_bytes):
                self.close_connection = True
        except (HTTPError, *CLIENT_GONE):
            self.close_connection = True
        finally:
            if reader is not None:
                reader.head_done()

    def _plain_http(self, fields: list[tuple[str, str]]) -> HTTPError:
        """The 400 for plain HTTP on the TLS port, with the https URL to use."""
        from simplewsgi.http import tls

        return tls.plain_http_refusal(self.path, fields, self.connection.getsockname())

    def _tls_on_plain_port(self) -> None:
        """A TLS handshake on this plain port: one line saying so, no answer (the client could
        not read one), and the connection closes."""
        local = self.connection.getsockname()
        where = f"http://{host_port(local[0], local[1])}/" if isinstance(local, tuple) else "http"
        self.log_message("a TLS handshake on a plain HTTP port: use %s%s", where, self.tls_hint)

    def _refuse(self, error: HTTPError) -> None:
        """Answer a request we could not parse, and close (framing can no longer be trusted)."""
        self.close_connection = True
        # A version we could not read is answered as HTTP/1.0, the lowest common ground.
        body = error.render(self.version_string(), self.request_version)
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except CLIENT_GONE:
            return
        line = self.requestline or error.received
        if len(line) > MAX_LOGGED_LINE:
            line = line[:MAX_LOGGED_LINE] + "..."
        self.log_message('"%s" %s - %s', line, error.status, error.detail)

    def _run(self, framing: parsing.Framing) -> Optional[RequestBody]:
        """Run the app for this request and send its response; the body, when what the app
        left of it is to be drained for the next request."""
        body: RequestBody
        response: Optional[Response] = None

        def send_continue() -> None:
            # Once the final response has started, a 1xx would land inside its body; that
            # response already says Connection: close, so the client sends or gives up.
            if response is None or not response.headers_sent:
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()

        if framing.length == parsing.CHUNKED:
            body = ChunkedBody(self.rfile, send_continue if framing.expect_continue else None)
        elif framing.length:
            body = FixedLengthBody(
                self.rfile, framing.length, send_continue if framing.expect_continue else None
            )
        else:
            body = FixedLengthBody(self.rfile, 0)
        environ = self.get_environ()
        environ["wsgi.input"] = body
        environ["wsgi.errors"] = self.get_stderr()
        response = Response(
            environ,
            body,
            self.wfile,
            server_header=self.version_string(),
            version=self.request_version,
            close=self.close_connection,
            max_drain=self.max_drain_bytes,
            log=self.log_message,
            policy=self._policy or self._keep_alive_policy(),
            sendfile_socket=self._socket_wfile if self.wfile is self._socket_wfile else None,
        )
        try:
            try:
                app = self.server.get_app()
                if app is None:
                    raise RuntimeError("no application: call set_app() on the server")
                response.run(app)
            except WSGIContractError as error:
                self.log_message("WSGI application error: %s", error)
                self._fail(response)
            except HTTPError as error:  # malformed chunked body read by the app
                if response.headers_sent:
                    response.close = True
                else:
                    self._refuse(error)
                    return None
            except CLIENT_GONE:
                raise
            except (Exception, SystemExit) as error:  # sys.exit() in a request is a bug
                self.log_exception(error)
                self._fail(response)
            self.close_connection = response.close
        except CLIENT_GONE as error:
            self.close_connection = True
            self.log_message(
                '"%s" client disconnected (%s) after %d bytes',
                self.requestline,
                type(error).__name__,
                response.bytes_sent,
            )
            return None
        self.log_request(response.status_code, response.bytes_sent)
        return None if self.close_connection else body

    def _keep_alive_policy(self) -> KeepAlivePolicy:
        """Who says whether connections persist: the server, or always yes for a server of
        another family."""
        server = self.server
        self._policy = server if hasattr(server, "keep_alive") else _ALWAYS_KEEP_ALIVE
        return self._policy

    def _fail(self, response: Response) -> None:
        """After an app error: a 500 if nothing was sent yet, else cut the connection."""
        if response.headers_sent:
            response.close = True
        else:
            response.send_error(ERROR_STATUS, ERROR_HEADERS, ERROR_BODY)

    def get_environ(self) -> WSGIEnvironment:
        """A new CGI/WSGI environ for the current request (PEP 3333), without ``wsgi.input``."""
        headers = self.headers
        framing = self.framing
        env = request_environ(
            self.server.base_environ,
            self.command,
            self.path,
            self.request_version,
            self.client_address,
            # http.server's headers, from a wsgiref-style handle(), have items()
            headers._fields if type(headers) is RequestHeaders else headers.items(),
            None if framing is None else framing.length,
        )
        if self._local_environ is not None:
            env.update(self._local_environ)
        return env

    def log_exception(self, error: BaseException) -> None:
        """The app raised ``error``: its traceback on ``get_stderr()`` (a hook for the CLI's)."""
        import traceback  # here: only when an app fails (it is 2 ms of every start-up)

        traceback.print_exception(type(error), error, error.__traceback__, file=self.get_stderr())

    def get_stderr(self) -> IO[str]:
        """Where app tracebacks go (``wsgi.errors``)."""
        return sys.stderr

    def log_message(self, format: str, *args: Any) -> None:
        """One line on stderr, with control characters escaped so logs cannot be forged."""
        message = (format % args).translate(CONTROL_CHAR_ESCAPES)
        sys.stderr.write(f"{self.address_string()} - - [{self.log_date_time_string()}] {message}\n")

    def address_string(self) -> str:
        """The client's IP address; ``-`` for a unix socket's peer (its path is the client's
        to choose, and must not reach the log)."""
        address = self.client_address
        return str(address[0]) if isinstance(address, tuple) else "-"

    def log_date_time_string(self) -> str:
        return log_time()


# The first byte of a TLS ClientHello, never of an HTTP request.
_TLS_START = bytes([TLS_HANDSHAKE_RECORD])


class _AlwaysKeepAlive:
    keep_alive = True


# For a server of another family, which has no say on keep-alive.
_ALWAYS_KEEP_ALIVE = _AlwaysKeepAlive()

# For a server that does not track its connections (a server class of another family, or one
# built without WSGIServer.__init__ as wsgiref's own tests do): always go on and read.
_NOT_TRACKED = contextlib.nullcontext(True)
