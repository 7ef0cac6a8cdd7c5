"""The reloader's worker process: a warm spare that, when told, imports the app and serves it.

The supervisor starts it with :meth:`.process.WorkerProcess.spawn`: ``sys.executable -c
BOOTSTRAP`` (never a script path, so it works the same under ``simplewsgi``, ``python -m
simplewsgi`` or a venv's script), leading a session of its own; the pipes and messages are
described in :mod:`.messages`. The control pipe's end of file means the supervisor is gone, even
after a SIGKILL, and is a ``stop``: no orphan keeps the port (on Linux the kernel's parent-death
signal makes sure of it). The supervisor learns that this process exited from a pidfd, or
SIGCHLD where there is none, not from the status pipe, which a process the app forked may hold.

Rules:
- Until its first command a worker is a *spare*: simplewsgi's modules are imported, the user's
  are not. A reload then costs one app import, not an interpreter start-up.
- ``stop`` arrives through the control pipe, never as a signal: in a session of its own, the
  worker gets no terminal signals, and the supervisor decides for every worker. Before it
  serves, a worker ignores the stop signals and a ``stop`` exits immediately; once serving,
  ``stop`` is a graceful shutdown (in-flight requests finish), and a stop signal sent to it
  directly is one too (a second one: exit at once).
- User code never writes bytecode here: ``.pyc`` validation uses whole-second mtimes plus size,
  and a worker racing a same-size edit could otherwise cache stale code for the next one.
- Our inherited descriptors are made non-inheritable again, so the app's own subprocesses never
  hold the socket or the pipes.
- Neither click nor watchdog is imported here (import-linter checks it): a worker starts fast.
- This module is a process entry point, so it is the one place besides the CLI that exits.
"""

from __future__ import annotations

import atexit
import contextlib
import linecache
import os
import signal
import sys
import threading
import traceback
from typing import IO, TYPE_CHECKING, Any, cast

from simplewsgi.accesslog import switch_access_log
from simplewsgi.http.errors import TLSConfigError
from simplewsgi.importer import AppImportError, AppRaisedOnImport, one_line, user_location
from simplewsgi.importtimes import ImportTimer, app_package
from simplewsgi.listen import LISTEN_FD_ENV, adopt_listeners
from simplewsgi.reload import messages
from simplewsgi.reload.messages import FailureReport
from simplewsgi.signals import HEEDED_SIGNALS, STOP_SIGNALS, ForcedStop

if TYPE_CHECKING:
    from types import FrameType

    from _typeshed.wsgi import WSGIApplication

    from simplewsgi.http.server import WSGIServer
    from simplewsgi.middleware.livehub import LiveHub
    from simplewsgi.options import ServeOptions

# A retiring worker keeps idle keep-alive connections this long for one more request (answered
# with "Connection: close"): a client's request sent just as the swap happens is not reset.
SWAP_IDLE_GRACE = 1.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# How long pdb waits for the supervisor to stop reading keys before it prompts anyway.
TERMINAL_HANDOFF_TIMEOUT = 2.0


def failure_report(exc: BaseException, debug: bool = False) -> FailureReport:
    """Describe ``exc``, raised while loading the app, locating the user's file and line;
    ``debug``: with the exception captured for the ``--debug`` page."""
    filename: str | None = None
    lineno: int | None = None
    cause = exc.__cause__ or exc
    if isinstance(exc, AppRaisedOnImport):
        message, details = _without_location(cause), exc.user_traceback
        filename, lineno = exc.filename, exc.lineno
    elif isinstance(exc, SystemExit):
        message = f"the app called sys.exit({exc.code!r}) while being imported"
        details = _format(exc)
    elif isinstance(exc, AppImportError):
        message = str(exc)
        details = "" if cause is exc else _format(cause)
    elif isinstance(exc, TLSConfigError):  # a certificate or key that went bad: the message is all
        message, details = str(exc), ""
    else:
        message = _without_location(exc)
        details = _format(exc)
    if filename is None:
        filename, lineno = user_location(cause)
    line = None
    if isinstance(cause, SyntaxError) and cause.text:
        line = cause.text.strip()
    elif filename and lineno:
        line = linecache.getline(filename, lineno).strip() or None
    report = FailureReport(
        message=message, filename=filename, lineno=lineno, line=line, details=details
    )
    if debug:
        from simplewsgi.middleware.debugcapture import capture

        report["debug"] = capture(cause if isinstance(exc, AppRaisedOnImport) else exc)
    return report


def _without_location(exc: BaseException) -> str:
    """One line; a syntax error's place is not repeated, the report has it apart."""
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg}"
    return one_line(exc)


def _format(exc: BaseException) -> str:
    """The traceback as text (the three-argument form: Python 3.9 has no other)."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class Channel:
    """The worker's end of the two pipes."""

    def __init__(self, control_fd: int, status_fd: int) -> None:
        for fd in (control_fd, status_fd):
            os.set_inheritable(fd, False)
        self._control: IO[bytes] = open(control_fd, "rb")  # noqa: SIM115 - lives as long as we do
        self._status: IO[bytes] = open(status_fd, "wb")  # noqa: SIM115
        self._lock = threading.Lock()

    def receive(self) -> dict[str, Any] | None:
        """The next command; None when the supervisor is gone (end of file)."""
        line = self._control.readline()
        if not line:
            return None
        # A garbled channel: safest to stop.
        return messages.decode(line) or {"kind": messages.STOP}

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            try:
                self._status.write(messages.encode(message))
                self._status.flush()
            except OSError:  # the supervisor is gone; the control pipe says so too
                pass


class Lifecycle:
    """Turns ``stop`` into the right action for the moment it arrives."""

    def __init__(self, live: LiveHub | None = None) -> None:
        self.live = live  # --live: this worker's open pages
        self._lock = threading.Lock()
        self._server: WSGIServer | None = None
        self._stopping = False
        self._access_log: bool | None = None  # the l key's last word, if any
        self.terminal_granted = threading.Event()  # the supervisor stopped reading keys

    @property
    def serving(self) -> bool:
        return self._server is not None

    def attach(self, server: WSGIServer) -> None:
        with self._lock:
            if not self._stopping:
                self._server = server
                if self._access_log is not None:
                    switch_access_log(server.RequestHandlerClass, self._access_log)
                return
        _exit_now(messages.EXIT_STOPPED)  # told to stop while building: nothing accepted yet

    def switch_access_log(self, on: bool) -> None:
        with self._lock:
            self._access_log = on
            if self._server is not None:
                switch_access_log(self._server.RequestHandlerClass, on)

    def stop(self, channel: Channel, swap: bool = False) -> None:
        """``swap``: a newer worker already serves; keep idle clients for one more request.
        Otherwise tell the supervisor how many requests the stop waits for, so it can say.
        Under --live, idle connections close at once, then the pages' event streams end (not
        counted, not waited for): a page reloads when its stream ends, and must meet the new
        worker then, not this one."""
        with self._lock:
            self._stopping = True
            server = self._server
        if server is None:
            _exit_now(messages.EXIT_STOPPED)  # not serving: nothing in flight to finish
        else:
            server.idle_grace = SWAP_IDLE_GRACE if swap and self.live is None else 0.0
            if not swap:
                busy = server.requests_in_flight() - (self.live.streams if self.live else 0)
                channel.send({"kind": messages.STOPPING, "busy": max(0, busy)})
            server.shutdown()  # serve_forever returns; server_close lets requests finish


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)


def _follow(channel: Channel, lifecycle: Lifecycle) -> None:
    """Control thread: wait for ``stop`` or end of file (supervisor gone), then stop."""
    while True:
        message = channel.receive()
        if message is None or message.get("kind") == messages.STOP:
            lifecycle.stop(channel, swap=bool(message and message.get("swap")))
            return
        if message.get("kind") == messages.ACCESS_LOG:
            lifecycle.switch_access_log(bool(message.get("on")))
        elif message.get("kind") == messages.TERMINAL:
            lifecycle.terminal_granted.set()
        elif message.get("kind") == messages.LIVE and lifecycle.live is not None:
            _tell_pages(lifecycle.live, message)


def _tell_pages(live: LiveHub, message: dict[str, Any]) -> None:
    """--live: what the supervisor said about the files (reload/live.py) -> the open pages."""
    files = [str(name) for name in message.get("files") or []]
    if message.get("action") == "css":
        live.swap_css(files)
    elif message.get("action") == "failed":
        live.failed(message.get("report") or {})
    else:
        live.reload(files)


def _live_hub(options: ServeOptions, command: dict[str, Any]) -> LiveHub | None:
    """--live: this worker's pages, their generation from the serve command; a failed reload
    is shown with the reloader's error page, under its rules on who may read details."""
    if not options.live:
        return None
    from simplewsgi.middleware.livehub import LiveHub
    from simplewsgi.reload.failure import error_app

    def error_page(report: dict[str, Any]) -> WSGIApplication:
        # The supervisor sends the report it got from the worker that failed (a FailureReport).
        return error_app(cast(FailureReport, report), options.debug_allow_ips, options.debug)

    return LiveHub(int(command.get("generation") or 0), error_page)


def _hand_terminal_to_pdb(channel: Channel, lifecycle: Lifecycle) -> None:
    """The supervisor reads keyboard shortcuts on the terminal this worker shares: before pdb
    prompts, have it stop (and wait until it has); when pdb is done, let it read again."""
    from simplewsgi import pdbhook

    def enter() -> None:
        lifecycle.terminal_granted.clear()
        channel.send({"kind": messages.DEBUGGER, "active": True})
        lifecycle.terminal_granted.wait(TERMINAL_HANDOFF_TIMEOUT)

    pdbhook.install(enter, lambda: channel.send({"kind": messages.DEBUGGER, "active": False}))


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """A stop signal before serving: the supervisor decides, and will say ``stop``."""


def main() -> None:
    """Entry point of a worker process; see the module docstring for the protocol."""
    package_parent = sys.argv[1] if len(sys.argv) > 1 else None
    if package_parent is not None and sys.path[:1] == [package_parent]:
        del sys.path[0]
    sys.argv[1:] = []
    try:
        control_fd = int(os.environ.pop(messages.CONTROL_FD_ENV))
        status_fd = int(os.environ.pop(messages.STATUS_FD_ENV))
        listen_fds = [int(fd) for fd in os.environ.pop(LISTEN_FD_ENV).split(",")]
        options_json = os.environ.pop(messages.OPTIONS_ENV)
        supervisor_pid = int(os.environ.pop(messages.SUPERVISOR_PID_ENV))
    except (KeyError, ValueError):
        sys.stderr.write(f"{__name__}: start it through 'simplewsgi serve --reload'\n")
        raise SystemExit(messages.EXIT_PROTOCOL) from None
    # Before any user code runs: the app's own subprocesses must never hold the port.
    for fd in listen_fds:
        os.set_inheritable(fd, False)
    _die_with(supervisor_pid)
    # Python-level (not SIG_IGN), so that the app's subprocesses get the default back at exec;
    # the supervisor spawned us with them blocked until these handlers are in place.
    for signum in HEEDED_SIGNALS:  # one ignored since the start stays SIG_IGN (nohup)
        signal.signal(signum, _ignore_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    channel = Channel(control_fd, status_fd)

    # Warm: the spare pays for these imports, not the reload.
    from simplewsgi import run
    from simplewsgi.console import Console, line_buffer_stdout
    from simplewsgi.options import ServeOptions
    from simplewsgi.reload.failure import error_app

    options = ServeOptions.from_json(options_json)
    console = Console.decide(options.color)  # the supervisor passed its decision down
    line_buffer_stdout()  # a process of its own: its stdout buffers anew
    command = channel.receive()
    if command is None or command.get("kind") not in (messages.SERVE, messages.SERVE_ERROR):
        return
    options = options._replace(
        keyfile_password=command.get("keyfile_password"),
        access_log=command.get("access_log", options.access_log),
    )
    lifecycle = Lifecycle(_live_hub(options, command))
    threading.Thread(target=_follow, args=(channel, lifecycle), daemon=True).start()
    if options.keys:  # the supervisor reads keys: set before the app's import-time breakpoint()
        _hand_terminal_to_pdb(channel, lifecycle)
    sys.dont_write_bytecode = True
    app: WSGIApplication
    timer = ImportTimer()
    try:
        if command["kind"] == messages.SERVE:
            with timer:  # for a slow reload's report
                app = run.load_app(options, console.warn)
        else:
            app = error_app(command["report"], options.debug_allow_ips, options.debug)
    except (Exception, SystemExit) as exc:
        channel.send({"kind": messages.FAILED, "report": failure_report(exc, options.debug)})
        _exit_now(messages.EXIT_APP_FAILED)
    sockets = adopt_listeners(listen_fds)
    # Several processes accept() on these sockets during a swap: whoever loses the race must
    # not block in accept(), or it could not notice its own shutdown.
    for sock in sockets:
        sock.setblocking(False)

    def ready(server: WSGIServer) -> None:
        lifecycle.attach(server)
        imports = timer.slowest(app_package(options.app))
        channel.send({"kind": messages.READY, "pid": os.getpid(), "imports": imports})

    try:
        run.serve_on_sockets(options, app, console, sockets, ready=ready, live=lifecycle.live)
    except ForcedStop:
        _exit_now(messages.EXIT_FORCED)
    except Exception as exc:
        if not lifecycle.serving:  # building the server failed: say so, like an import error
            channel.send({"kind": messages.FAILED, "report": failure_report(exc)})
        if not isinstance(exc, TLSConfigError):  # the report says all of that one
            traceback.print_exc()
        _exit_now(messages.EXIT_APP_FAILED)
    # Done serving. Exit now: a non-daemon thread the app started would otherwise hold the
    # interpreter (and the port) open, and keep the supervisor waiting for us.
    atexit._run_exitfuncs()
    _exit_now(messages.EXIT_STOPPED)


def _die_with(supervisor_pid: int) -> None:
    """Linux: have the kernel kill this worker when the supervisor dies. The control pipe's
    end of file says the same, but only to a thread that gets to run: an import stuck in C
    code holding the GIL would otherwise keep the port as an orphan."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != supervisor_pid:  # it died before the request took effect
        _exit_now(messages.EXIT_STOPPED)
