"""The CLI's request handler: one access-log line per request, colored or not.

``127.0.0.1 GET /path?q HTTP/1.1 200 13 B 0.4 ms``. Rules:
- Lines are written straight to ``sys.stderr``, never through :mod:`logging`: an app that
  configures logging itself must not see our lines twice.
- :meth:`AccessLogHandler.log_request` runs once per request: one f-string, and lines are
  written in the order they come (:class:`Lines`). A line is written at once, unless it comes
  less than ``BUSY_GAP`` after the one before (under load): then it waits at most ``HOLD``
  for a common write by a thread that sleeps on an event while nothing waits (no polling), so
  a busy server makes one system call per ``HOLD`` instead of one per request (each write
  lets go of the GIL, and with many connections on one core that is a thread switch). Lines
  are written in the order they come, whichever thread brings them: once a line is out, every
  line before it is (a client that must know whether a request was logged sends a request
  that always is, a malformed one, after it on its connection: a line comes after its answer
  is sent, so only the connection orders the two). What waits is written when the server is
  closed, so nothing is left behind. Measured: writing a connection's line before its next
  request was answered, or at every connection's end, made a write for every few requests
  under load, and cost a tenth of the throughput.
  Protocol messages and tracebacks go the same way, so the order holds.
- Anything the client sent is escaped before it is written (no forged lines, no terminal codes).
- Without ``--access-log`` only server errors (5xx) and protocol messages are written.
- An app's traceback shows the app's frames; simplewsgi's are folded into one line saying how
  many were hidden (``--debug`` shows them all): :mod:`simplewsgi.tracebacks`.
- The address is the environ's ``REMOTE_ADDR`` as the app saw it (behind ``--proxy-headers``,
  the client's, not the proxy's); a file the static layer served is painted dimmer, so the app's
  own requests stand out.
"""

from __future__ import annotations

import atexit
import io
import sys
import threading
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Any, Optional, cast

from simplewsgi.console import BOLD, CYAN, DIM, GREEN, RED, RESET, YELLOW, write_stderr
from simplewsgi.http.handler import WSGIRequestHandler
from simplewsgi.http.text import CONTROL_CHAR_ESCAPES
from simplewsgi.middleware import QUIET, STATIC_FILE

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

# Status class (code // 100) -> color: 2xx green, 3xx cyan, 4xx yellow, 5xx red.
STATUS_COLORS = {1: DIM, 2: GREEN, 3: CYAN, 4: YELLOW, 5: RED}
_NO_REQUEST: WSGIEnvironment = {}  # never written: a handler's environ before its first request


# Lines closer together than this are a server under load: they wait for a common write...
# (read at each line, so tests may change them)
BUSY_GAP = 0.001
# ...at most this long.
HOLD = 0.002
# Past this many lines waiting, a line's thread waits for stderr to take them, as it did when
# every line was written at once: a stalled stderr holds the server back, not its memory.
MAX_HELD = 10_000


class Lines:
    """Text for stderr, written in the order it comes: at once when it comes alone; under
    load (text less than ``BUSY_GAP`` after the text before it) gathered and written by a
    flusher thread within ``HOLD``. Lock-free for the thread that brings text: a deque's append and
    popleft are atomic, and the one writer is whoever takes ``_writer`` without waiting (text
    that comes during a write joins the next one); it looks again after letting go, so a
    line added as it finished is never left behind."""

    def __init__(self) -> None:
        self._pending: deque[str] = deque()
        self._writer = threading.Lock()
        self._last_line = 0.0  # when the last text came
        self._wake = threading.Event()  # the flusher has text to write
        self._flusher: Optional[threading.Thread] = None
        self._starting = threading.Lock()

    def write(self, text: str) -> None:
        """Queue ``text``: written at once, or within ``HOLD`` under load."""
        pending = self._pending
        pending.append(text)
        if len(pending) > MAX_HELD:  # stderr does not take them (a paused terminal): wait
            self.flush(wait=True)
            return
        now = time.monotonic()
        gap, self._last_line = now - self._last_line, now
        if gap < BUSY_GAP and self._start_flusher():
            if not self._wake.is_set():
                self._wake.set()
            return
        self.flush()

    def flush(self, wait: bool = False) -> None:
        """Write what waits, now; unless another thread is writing it, or, with ``wait``,
        once that thread is done."""
        pending = self._pending
        writer = self._writer
        while pending and writer.acquire(wait):
            try:
                while pending:
                    count = len(pending)  # others only append: these are there to take
                    write_stderr("".join([pending.popleft() for _ in range(count)]), flush=False)
            finally:
                writer.release()

    def _start_flusher(self) -> bool:
        if self._flusher is None:
            with self._starting:  # one flusher, however many threads ask at once
                if self._flusher is None:
                    flusher = threading.Thread(
                        target=self._flush_held, name="simplewsgi-log", daemon=True
                    )
                    try:
                        flusher.start()
                    except RuntimeError:  # no thread to be had: write at once
                        return False
                    self._flusher = flusher
                    atexit.register(self.flush, wait=True)  # after a write under way
        return True

    def _flush_held(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(HOLD)  # the lines of the next HOLD join this write
            self._wake.clear()
            self.flush()


LINES = Lines()


class QueuedErrors(io.TextIOBase):
    """``wsgi.errors`` under the command: what the app writes joins :data:`LINES`, so it comes
    out in order with the access lines (a request's line before what the next request on its
    connection writes), and a terminal that closed does not fail the app."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, not {type(text).__name__} (PEP 3333)")
        LINES.write(text)
        return len(text)

    def flush(self) -> None:
        LINES.flush(wait=True)

    def fileno(self) -> int:
        return sys.stderr.fileno()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


ERRORS = cast(IO[str], QueuedErrors())  # a text stream, as typing spells it


class AccessLogHandler(WSGIRequestHandler):
    """Writes one line per request; configured through class attributes (see
    :func:`handler_class`): ``color`` paints the status by class, ``access_log`` off keeps only
    server errors (5xx) and messages."""

    color = False
    access_log = True
    show_all_frames = False  # --debug: a traceback keeps simplewsgi's frames
    tls_hint = ", or serve HTTPS with --certfile or --tls-self-signed"
    environ: WSGIEnvironment = _NO_REQUEST  # the current request's, when the class keeps it

    @classmethod
    def server_closed(cls) -> None:
        """What waits is written once the server is closed (its connections are done)."""
        LINES.flush(wait=True)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code if type(code) is int else _as_int(code)
        if status < 500 and (not self.access_log or QUIET in self.environ):
            return
        elapsed = (time.perf_counter() - self.request_start) * 1000.0
        duration = f"{elapsed:.1f} ms" if elapsed < 1000.0 else f"{elapsed / 1000.0:.2f} s"
        amount = f"{size} B" if type(size) is int and size < 1024 else _size(size)
        target = self.path if self.path.isascii() else _as_text(self.path)
        environ = self.environ
        address = environ.get("REMOTE_ADDR") or (
            self.client_address[0] if isinstance(self.client_address, tuple) else "-"
        )
        if not address.isprintable():  # an app's own proxy fix may copy a header into it
            address = address.translate(CONTROL_CHAR_ESCAPES)
        if self.color:
            painted = STATUS_COLORS.get(status // 100, "")
            if STATIC_FILE in environ:  # a file: the whole line dim, the status still by class
                line = (
                    f"{DIM}{address} {self.command} {target} {self.request_version} "
                    f"{painted}{status}{RESET}{DIM} {amount} {duration}{RESET}\n"
                )
            else:
                line = (
                    f"{DIM}{address}{RESET} {BOLD}{self.command} {target}{RESET} "
                    f"{self.request_version} {painted}{status}{RESET} {amount} "
                    f"{DIM}{duration}{RESET}\n"
                )
        else:
            line = (
                f"{address} {self.command} {target} {self.request_version} "
                f"{status} {amount} {duration}\n"
            )
        LINES.write(line)

    def log_exception(self, error: BaseException) -> None:
        """The app's traceback with simplewsgi's own frames folded into one line
        (``show_all_frames``, from ``--debug``: all of them)."""
        from simplewsgi.tracebacks import format_exception  # here: only when an app fails

        stream = self.get_stderr()
        if stream is sys.stderr:  # a subclass's: still after the lines before it
            stream = ERRORS
        stream.write(format_exception(error, fold=not self.show_all_frames))
        stream.flush()

    def get_stderr(self) -> IO[str]:
        """``wsgi.errors``: the app's text joins the access lines, in order with them."""
        return ERRORS

    def log_message(self, format: str, *args: Any) -> None:
        """Protocol errors and disconnects: always written, access log or not."""
        message = _as_text(format % args)
        address = self.address_string()
        if self.color:
            LINES.write(f"{DIM}{address}{RESET} {YELLOW}{message}{RESET}\n")
        else:
            LINES.write(f"{address} {message}\n")


def _as_text(text: str) -> str:
    """What the client sent, printable: the request line arrives decoded one character per
    byte (latin-1, as http.server reads it), so UTF-8 bytes, which curl sends for a typed
    ``/héllo``, are shown as the text they spell; control characters are escaped either way
    (U+009B spelled in UTF-8 too)."""
    if text.isascii():
        return text.translate(CONTROL_CHAR_ESCAPES)
    try:
        shown = text.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not UTF-8 (or already text): as it came
        shown = text
    return shown.translate(_TEXT_ESCAPES)


# Decoded, a target may also hold the marks that reorder text on a terminal (bidirectional
# overrides and isolates): a path that shows as something else than it is. Escaped too.
_BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_TEXT_ESCAPES = {**CONTROL_CHAR_ESCAPES, **{c: f"\\u{c:04x}" for c in _BIDI_CONTROLS}}


def _as_int(code: int | str) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return 0


def _size(size: int | str) -> str:
    if type(size) is not int:
        return "- B"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


class EnvironAccessLogHandler(AccessLogHandler):
    """Keeps each request's environ for its line: behind the layers of ``middleware`` the app
    may have seen another ``REMOTE_ADDR``, or the request was a file (a call per request, so
    only when a layer is in front of the app)."""

    def get_environ(self) -> WSGIEnvironment:
        self.environ = environ = super().get_environ()
        return environ


def handler_class(
    color: bool, access_log: bool, keep_environ: bool = False, **settings: Any
) -> type[WSGIRequestHandler]:
    """The request handler class the CLI serves with; ``keep_environ`` when layers stand in
    front of the app; ``settings`` are more class attributes (the deadlines)."""
    attrs = {"color": color, "access_log": access_log, **settings}
    base = EnvironAccessLogHandler if keep_environ else AccessLogHandler
    return type("AccessLogHandler", (base,), attrs)


def switch_access_log(handler: object, on: bool) -> None:
    """Turn the access log of a serving server's handler class (:func:`handler_class`'s) on
    or off: each request's line reads the class attribute."""
    if isinstance(handler, type) and issubclass(handler, AccessLogHandler):
        handler.access_log = on
