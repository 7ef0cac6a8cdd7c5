"""The reloader's supervisor (``serve --reload``): owns the socket, replaces workers, never
imports the app.

Rules, and why:

- The listening sockets are opened once, here, and inherited by every worker: requests that
  arrive while a worker is replaced wait in the backlog; nothing is refused.
- The new worker must report ``ready`` before the serving one is told to stop, and a stopping
  worker finishes its in-flight requests. Somebody is always accepting.
- A warm spare worker (simplewsgi imported, the app not) is kept waiting, so a reload costs one
  app import, not an interpreter start-up.
- A failed import keeps the last good worker serving, prints ``file:line: message`` with the
  offending line, and watches that file whatever the patterns; with no good worker (broken at
  start-up, or the worker died) a worker serves the error page until a change fixes things.
- Everything is decided on the main thread, in one loop over named events (:func:`supervise`);
  the watcher's thread and the signal handlers only wake it. Workers are spawned from the main
  thread only, and are told to stop through their control pipe, never by a forwarded signal.
- The app is never imported here, so its start-up code runs once per worker; watchdog only
  through :mod:`.watcher`. Changed ``.py`` files lose their cached bytecode before the
  next worker imports them (``.pyc`` validation uses whole-second mtimes plus size).

POSIX only: workers inherit descriptors through ``pass_fds``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import signal
import time
from typing import TYPE_CHECKING, Any, Callable

from simplewsgi.http.limits import GRACEFUL_TIMEOUT
from simplewsgi.importtimes import slow_reload_note
from simplewsgi.keys import first_url, open_browser
from simplewsgi.listen import open_listeners
from simplewsgi.reload import messages
from simplewsgi.reload.events import Changed, Event, Exited, Failed, Overdue, Ready, Released, Stop
from simplewsgi.reload.failure import crash_report, summary
from simplewsgi.reload.gitlock import GitLockGate, index_locks
from simplewsgi.reload.keyboard import claim_keyboard
from simplewsgi.reload.live import LivePages
from simplewsgi.reload.mounts import describe_backend
from simplewsgi.reload.paths import describe_paths, drop_bytecode, watch_dirs
from simplewsgi.reload.process import GROUP_GRACE, TerminalState, WorkerProcess, describe_exit
from simplewsgi.reload.wakeups import drain, nonblocking_pipe, signal_wakeup
from simplewsgi.reload.watcher import DEFAULT_INCLUDE, Watcher, WatcherError
from simplewsgi.signals import HEEDED_SIGNALS, ForcedStop, StoppedBeforeServing

if TYPE_CHECKING:
    from simplewsgi.console import Console
    from simplewsgi.options import ServeOptions
    from simplewsgi.reload.messages import FailureReport

# A stopping worker gets the server's graceful timeout, plus the time to notice the stop
# (serve_forever's poll) and to exit.
RETIRE_SLACK = 2.0
RETIRE_TIMEOUT = GRACEFUL_TIMEOUT + RETIRE_SLACK
LINGER_POLL = 0.02  # at a stop, how often to look whether the app's processes have ended
APP, ERROR_PAGE = "app", "error page"  # what a worker was told to serve
KEPT_PREVIOUS = "still serving the previous version"
SHOWING_ERROR_PAGE = "serving an error page until it is fixed"


def supervise(options: ServeOptions, console: Console) -> None:
    """Serve ``options`` with auto-reload until a stop signal (raises ``PortInUseError``,
    ``WatcherError``); a stop before any worker served raises ``StoppedBeforeServing``, a
    second one during the graceful stop ``ForcedStop``, as plain serving does."""
    supervisor = Supervisor(options, console)
    stop: Stop | None = None
    try:
        supervisor.start()
        while not isinstance(event := supervisor.next_event(), Stop):
            supervisor.handle(event)
        stop = event
    finally:
        supervisor.close()
    if supervisor.forced:
        raise ForcedStop("quitting now, without waiting for requests in flight")
    if stop is not None and not supervisor.served:
        raise StoppedBeforeServing(stop.signum)


class Supervisor:
    """The socket, the watcher and the workers: at most one serving (``current``), one
    importing (``pending``), one spare, and those finishing their requests (``stopping``)."""

    def __init__(self, options: ServeOptions, console: Console) -> None:
        self.options = options
        self.console = console
        # Workers get the color decision, not the question (their stderr may differ). The key's
        # password goes with each serve command, through the control pipe: never in a worker's
        # environment (where its options travel), which the same user can read in /proc.
        self._worker_options = options._replace(color=console.choice, keyfile_password=None)
        self._secrets = {"keyfile_password": options.keyfile_password}
        self.current: WorkerProcess | None = None
        self.pending: WorkerProcess | None = None
        self.spare: WorkerProcess | None = None
        self.stopping: set[WorkerProcess] = set()
        # Reaped workers whose process group (what the app started) got SIGTERM: SIGKILL due.
        self.lingering: set[WorkerProcess] = set()
        self.changed: set[str] = set()  # since the last successful load
        self._events: collections.deque[Event] = collections.deque()
        self._inbox: collections.deque[tuple[list[str], float]] = collections.deque()
        self._terminal = TerminalState()
        self._closing = False
        self.served = False  # a worker has served (the app or its error page)
        self.forced = False  # a second stop signal cut the graceful stop short
        include = tuple(dict.fromkeys(DEFAULT_INCLUDE + options.reload_include))
        self.dirs = watch_dirs(options)
        self.live = LivePages(options, self.dirs) if options.live else None
        if self.live is not None:  # the pages' own files too, and the --static directories
            include, self.dirs = tuple(dict.fromkeys(include + self.live.include)), self.live.dirs
        self.gate = GitLockGate(index_locks([*self.dirs, options.app_dir]))  # none while git works
        self.watcher = Watcher(
            self.dirs,
            include=include,
            exclude=options.reload_exclude,
            poll=options.reload_poll,
            files=options.env_files,  # the app's environment: a change reloads, wherever it is
            on_change=self._on_change,
        )
        self.listeners = open_listeners(options, inheritable=True)  # a refusal leaks nothing
        self._selector = selectors.DefaultSelector()
        self.keys = (
            claim_keyboard(self, self._selector, self._events) if options.keys else None
        )  # stdin is our terminal
        self._worker_options = self._worker_options._replace(keys=self.keys is not None)
        for sock in self.listeners.sockets:
            sock.setblocking(False)  # shared by the workers: see worker.py
        self._cleanups: list[Callable[[], object]] = [self._selector.close, self.listeners.close]

    # -- set-up and tear-down ---------------------------------------------------------------

    def start(self) -> None:
        self.spare = self._spawn()  # imports simplewsgi while the watcher starts
        # SIGCHLD: a worker exited. With a pidfd per worker it is redundant; without one
        # (macOS, Linux < 5.3) it is the only sign, since a process the app forked may hold
        # the status pipe open long after the worker is gone.
        woken_by = (*HEEDED_SIGNALS, signal.SIGCHLD)
        self._wake_on(self._on_signals, signal_wakeup(woken_by, self._cleanups))
        self._poll_exits()  # the spare may have died before SIGCHLD was ours to hear
        change_r, self._change_w = nonblocking_pipe(self._cleanups)
        self._wake_on(self._drain_changes, change_r)
        self.watcher.start()
        self._cleanups.append(self.watcher.stop)
        self._serve_next(APP, self.spare, since=time.perf_counter())
        self.watcher.probe()
        backend = describe_backend(self.watcher.backend, self.watcher.fallback_reason, self.dirs)
        keys = self.keys.shortcuts.banner_line() if self.keys else None
        if self.keys is not None:  # before the banner: a key pressed on seeing it is a shortcut
            self._cleanups.append(self.keys.close)  # the terminal's mode back, first of all
            self.keys.start(self.options, self.listeners.addresses())
        self.console.banner(self.options, self.listeners.addresses(), reloader=backend, keys=keys)

    def close(self) -> None:
        """Stop every worker (gracefully, then by force), then release everything."""
        self._closing = True
        self._catch_up()
        # Refuse new connections now, as plain serving does (the workers' copies close with
        # their servers); the unix socket's file goes with the cleanups.
        for sock in self.listeners.sockets:
            sock.close()
        if self.current is not None:
            self._retire(self.current)
        for worker in (self.pending, self.spare):
            if worker is not None:
                self._kill(worker)
        self.current = self.pending = self.spare = None
        while self.stopping:
            event = self.next_event()
            if isinstance(event, (Exited, Overdue)):
                self.handle(event)
            elif isinstance(event, Stop) and not self.forced:  # asked twice: do not wait
                self.forced = True
                for worker in self.stopping:
                    worker.deadline = time.perf_counter()
        self._end_lingering()
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(OSError):
                cleanup()
        if self.served and not self.forced:
            self.console.goodbye()

    def _catch_up(self) -> None:
        """Take in a READY already sent. A worker says it before its first accept(), so a stop
        signal read in the same wake-up (or queued before it) may come after requests it
        served: it has served, and is retired gracefully, not killed as one still importing."""
        with contextlib.suppress(OSError):
            for key, _ in self._selector.select(0):
                if self._selector.get_map().get(key.fd) is key:
                    key.data(key.fd)
        for event in [event for event in self._events if isinstance(event, Ready)]:
            self._events.remove(event)
            self.handle(event)

    def _end_lingering(self) -> None:
        """At a stop: wait (at most the grace) for what the workers started to end, then
        SIGKILL the rest: nothing the app started outlives the server."""
        while self.lingering:
            now = time.perf_counter() + (GROUP_GRACE if self.forced else 0.0)
            for worker in list(self.lingering):
                if not worker.group_alive():
                    self.lingering.discard(worker)
            self._kill_lingering(now)
            if self.lingering:
                time.sleep(LINGER_POLL)

    def _wake_on(self, callback: Callable[[int], None], fd: int) -> None:
        self._selector.register(fd, selectors.EVENT_READ, callback)

    # -- events ---------------------------------------------------------------------------

    def next_event(self) -> Event:
        while not self._events:
            deadlines = [w.deadline for w in self.stopping if w.deadline is not None]
            deadlines += [w.group_deadline for w in self.lingering if w.group_deadline is not None]
            deadlines += [due for due in [self.gate.due()] if due is not None]
            now = time.perf_counter()
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, _ in self._selector.select(timeout):
                # An earlier callback of this batch may have reaped a worker and closed its
                # descriptors (a pidfd and SIGCHLD, then its status pipe): skip those.
                if self._selector.get_map().get(key.fd) is key:
                    key.data(key.fd)
            now = time.perf_counter()
            for worker in self.stopping:
                if worker.deadline is not None and worker.deadline <= now:
                    worker.deadline = None
                    self._events.append(Overdue(worker))
            self._kill_lingering(now)
            if (held := self.gate.poll(now)) is not None and not self._closing:
                self._events.append(Released(held[0], now, held[1]))
        return self._events.popleft()

    def _kill_lingering(self, now: float) -> None:
        """SIGKILL the process groups whose grace after SIGTERM is over."""
        for worker in list(self.lingering):
            if worker.group_deadline is None or worker.group_deadline <= now:
                worker.kill_group()
                self.lingering.discard(worker)

    def _on_signals(self, fd: int) -> None:
        signums = drain(fd)
        if signal.SIGCHLD in signums:
            self._poll_exits()
        stops = [signum for signum in signums if signum in HEEDED_SIGNALS]  # not SIGCONT
        if stops:
            self._events.appendleft(Stop(stops[-1]))

    def _poll_exits(self) -> None:
        """Reap every worker that has exited (without waiting for any)."""
        workers = {self.current, self.pending, self.spare, *self.stopping}
        for worker in workers:
            if worker is not None and worker.returncode is None and worker.popen.poll() is not None:
                self._exited(worker)

    def _on_change(self, paths: list[str]) -> None:
        """The watcher's callback, on its thread: queue the batch and wake the main loop."""
        self._inbox.append((paths, time.perf_counter()))
        with contextlib.suppress(OSError):
            os.write(self._change_w, b"!")

    def _drain_changes(self, fd: int) -> None:
        drain(fd)
        paths: set[str] = set()
        at = 0.0
        while self._inbox:
            batch, at = self._inbox.popleft()
            paths.update(batch)
        if paths and not self._closing:
            self._events.append(Changed(frozenset(paths), at))

    def _on_status(self, worker: WorkerProcess, fd: int) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the worker closed its status pipe: it exited (or is about to)
            self._selector.unregister(fd)
            self._poll_exits()  # SIGCHLD or the pidfd says when, if not yet
            return
        for message in worker.messages(data):
            if message.get("kind") == messages.READY:
                worker.imports = message.get("imports") or []
                self._events.append(Ready(worker))
            elif message.get("kind") == messages.FAILED:
                self._events.append(Failed(worker, message["report"]))
            elif message.get("kind") == messages.DEBUGGER and self.keys is not None:
                self.keys.debugger(worker, bool(message.get("active")))
            elif message.get("kind") == messages.STOPPING and message.get("busy"):
                self.console.info(
                    f"stopping: waiting up to {GRACEFUL_TIMEOUT:g} s for {message['busy']} "
                    "request(s) in flight; press Ctrl+C again to quit now"
                )

    # -- outcomes -------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        if isinstance(event, Released) and event.note:
            (self.console.warn if event.paths else self.console.info)(event.note)
        if isinstance(event, Changed) and event.paths and self.gate.hold(event.paths, event.at):
            pass  # git is at work: the changes wait for its lock to go (gitlock.py)
        elif isinstance(event, (Changed, Released)) and self._refresh_pages(event.paths):
            pass  # --live: only what the pages show changed; the app serves on
        elif isinstance(event, Changed) or (isinstance(event, Released) and event.paths):
            # A Changed without paths is the r key's restart.
            drop_bytecode(event.paths)
            self.changed.update(event.paths)
            self._serve_next(APP, self.spare, since=event.at)
        elif isinstance(event, Ready) and event.worker is self.pending:
            self._promote(event.worker)
        elif isinstance(event, Failed) and event.worker is self.pending:
            self._fail(event.report)
        elif isinstance(event, Exited):
            self._reap_outcome(event.worker, event.returncode)
        elif isinstance(event, Overdue) and event.worker.returncode is None:
            if not self.forced:  # asked to quit now: that is not the worker's fault
                self.console.warn(f"worker {event.worker.pid} did not finish its requests "
                                  f"within {RETIRE_TIMEOUT:g} s; killed it")  # fmt: skip
            self._kill(event.worker)

    def _refresh_pages(self, paths: frozenset[str]) -> bool:
        """--live: True if ``paths`` need only the open pages refreshed (then told so). While
        the app is broken, every change restarts it: it may be the fix."""
        if self.live is None or not self.live.refresh_only(paths):
            return False
        if self.pending is not None:  # its pages reload anyway, when it serves
            return self.pending.role == APP
        if self.current is None or self.current.role != APP or self.changed:
            return False
        self.console.info(self.live.refresh(self.current, paths))
        return True

    def _serve_next(
        self, role: str, worker: WorkerProcess | None, since: float, **fields: Any
    ) -> None:
        """Have ``worker`` (or a new one) serve ``role``; it replaces the one importing."""
        if self.pending is not None:
            self._kill(self.pending)  # superseded before it was ready: nothing in flight
        self.spare = self.pending = None
        try:
            self.pending = worker or self._spawn()
        except OSError as error:
            self.console.error(f"cannot start a worker: {error}")
            return
        self.pending.role, self.pending.since = role, since
        kind = messages.SERVE if role == APP else messages.SERVE_ERROR
        access_log = self.keys.access_log if self.keys else self.options.access_log
        if self.live is not None:
            fields["generation"] = self.live.next_generation()
        self.pending.tell(kind, access_log=access_log, **fields, **self._secrets)
        # A new spare at once (after the command, so the import is not delayed): a burst of
        # changes then supersedes with warm workers instead of a cascade of cold starts.
        self._replenish()

    def _promote(self, worker: WorkerProcess) -> None:
        self.pending = None
        was_served, self.served = self.served, True
        if not was_served and self.options.open:  # once, when the first worker is ready
            open_browser(first_url(self.options, self.listeners.addresses()), self.console)
        if self.current is not None:
            self._retire(self.current, swap=True)
        self.current = worker
        if worker.role == APP:
            if self.changed or was_served:  # no change after serving: the r key's restart
                elapsed = (time.perf_counter() - worker.since) * 1000.0
                why = f"changed: {describe_paths(self.changed)}" if self.changed else "r pressed"
                slow = slow_reload_note(elapsed, worker.imports)
                self.console.info(f"reloaded in {elapsed:.0f} ms ({why}){slow}")
            self.changed.clear()
            self.watcher.clear_extra_files()
        self._replenish()

    def _fail(self, report: FailureReport) -> None:
        failed, self.pending = self.pending, None
        if failed is not None and failed.role == ERROR_PAGE:
            self.console.error(f"cannot serve the error page either: {report['message']}")
            return
        keep = self.current is not None and self.current.role == APP
        self.console.error(summary(report, KEPT_PREVIOUS if keep else SHOWING_ERROR_PAGE))
        if report["filename"]:
            try:
                self.watcher.watch_file(report["filename"])
            except WatcherError as error:
                self.console.warn(str(error))
        if keep:
            if self.live is not None and self.current is not None:
                self.live.failed(self.current, report)
            self._replenish()
        else:
            self._serve_next(ERROR_PAGE, self.spare, time.perf_counter(), report=report)

    def _reap_outcome(self, worker: WorkerProcess, returncode: int) -> None:
        self._terminal.restore()
        if self.keys is not None:
            self.keys.worker_exited(worker)
        self.stopping.discard(worker)
        if worker is self.spare:
            self.spare = None
            self.console.warn(f"the spare worker {describe_exit(returncode)}")
        elif worker is self.pending:
            self._fail(crash_report(f"the worker {describe_exit(returncode)} while starting"))
        elif worker is self.current:
            self.current = None
            report = crash_report(f"the app's worker {describe_exit(returncode)}")
            self.console.error(f"{report['message']}; it restarts when a watched file changes")
            if self.pending is None:
                self._serve_next(ERROR_PAGE, self.spare, time.perf_counter(), report=report)

    def _retire(self, worker: WorkerProcess, swap: bool = False) -> None:
        """Let a serving worker finish its requests (``swap``: a newer one serves already)."""
        worker.tell(messages.STOP, swap=swap)
        worker.deadline = time.perf_counter() + RETIRE_TIMEOUT
        self.stopping.add(worker)

    def _kill(self, worker: WorkerProcess) -> None:
        """End a worker that has nothing in flight (a spare, one still importing, an overdue
        one) at once."""
        worker.kill()
        self.stopping.add(worker)
        self._exited(worker)

    def _exited(self, worker: WorkerProcess) -> None:
        """The worker process is gone (or was just killed): reap it and report it, once."""
        if worker.returncode is not None:
            return
        for fd in worker.watched_fds:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fd)
        returncode = worker.reap()
        if worker.end_group(time.perf_counter()):
            self.lingering.add(worker)
        self._events.append(Exited(worker, returncode))

    def _spawn(self) -> WorkerProcess:
        worker = WorkerProcess.spawn(self.listeners.sockets, self._worker_options)
        self._wake_on(lambda fd: self._on_status(worker, fd), worker.status)
        if worker.pidfd is not None:
            self._wake_on(lambda fd: self._exited(worker), worker.pidfd)
        return worker

    def _replenish(self) -> None:
        if self.spare is None and not self._closing:
            with contextlib.suppress(OSError):  # no spare: the next reload spawns one
                self.spare = self._spawn()
