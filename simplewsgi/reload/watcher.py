"""File watching for the reloader: the only module that imports watchdog.

Rules, and why:

- Only the given directories are watched (recursively), never ``sys.path``: watching the stdlib
  and site-packages (~9,000 directories) overflows the inotify queue so nothing reloads at all.
- Every directory, and every ``watch_file`` path, is resolved with ``os.path.realpath``: inotify
  does not follow a symlinked directory, so ``--reload-dir link-to-src`` used to see nothing.
  The paths given to ``on_change`` are therefore real paths (``/real/src/app.py`` whether the
  directory was given as ``link-to-src`` or not), one per file however it was edited.
- Only modified, created, deleted, moved and closed-after-write events count. Opened,
  closed-without-write and accessed events are dropped by the kernel (an ``event_filter`` on
  ``schedule``, watchdog >= 4) and again here for older watchdog: without the filter, merely
  *reading* 2,163 files produced 4,326 inotify events, i.e. reload loops on reads.
- Which paths count is :mod:`.filters`'s business (include/exclude patterns, ignore lists).
  Directory events are ignored; a move counts through its source or its destination, so an
  editor's "write temp file, rename onto app.py" reports ``app.py``.
- ``watch_file`` adds one exact path regardless of patterns (the file that failed to import,
  so that fixing it reloads); its directory is watched non-recursively if not already covered.
  ``files`` given to the constructor are watched the same way for as long as the watcher runs
  (the ``--env-file`` files: the app's environment, wherever they are), each at its own path
  too, so that repointing a symlink (``ln -sfn .env.prod .env``) is a change, after which the
  new target is watched; ``clear_extra_files`` forgets only the ``watch_file`` paths.
- Events are debounced, trailing: a batch is delivered once ``debounce`` has passed without a
  relevant event, so a formatter or ``git checkout`` rewriting a tree file by file (or an editor
  writing in several steps) is one reload, not one per fragment, each importing a half-written
  tree. The wait is capped at ``MAX_BATCH_WAIT`` from the batch's first event, so a file written
  without pause cannot starve reloads. ``on_change`` gets the sorted paths, always from one
  worker thread of ours (never watchdog's), never concurrently with itself. The paths let the
  supervisor drop stale ``.pyc`` files: bytecode validation uses whole-second mtimes plus size.
- A watched root that is removed and made again (``rm -rf dist && mkdir dist``, as build
  tools do) is watched again: the native backends drop the watch of a directory that is gone,
  and watchdog's poller stops polling a root it finds gone, so its parent is watched until it
  is back, then the root, and its return is a change.
- Polling (``poll=True``) is for Docker, WSL, VMs and network mounts where inotify sees nothing;
  it is also the automatic fallback when the native backend hits a kernel limit (``ENOSPC``:
  ``fs.inotify.max_user_watches``, ``EMFILE``: ``max_user_instances``), or when :meth:`probe`
  (:mod:`.probe`: a file made and removed in each root) hears nothing from a root.
  ``backend`` names the observer in use and ``fallback_reason`` says why polling was forced.
  The poller does not descend into ignored or excluded directories; the native recursive watch
  does (watchdog walks the whole tree), but their events are dropped before the debounce.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence

from watchdog import events as ev
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver, PollingObserverVFS

from simplewsgi.reload.filters import (
    ALWAYS_IGNORED_DIRS,
    ALWAYS_IGNORED_FILES,
    DEFAULT_INCLUDE,
    VENV_MARKER,
    PathFilter,
    WatcherError,
)
from simplewsgi.reload.probe import PROBE_DEADLINE, deaf_roots, probe_path
from simplewsgi.reload.treewalk import TreeWalk

__all__ = [
    "ALWAYS_IGNORED_DIRS", "ALWAYS_IGNORED_FILES", "DEFAULT_DEBOUNCE", "DEFAULT_INCLUDE",
    "DEFAULT_POLL_INTERVAL", "MAX_BATCH_WAIT", "VENV_MARKER", "Watcher", "WatcherError",
]  # fmt: skip

logger = logging.getLogger(__name__)

#: The quiet time that ends a batch: longer than the gaps inside an editor's temp-write + rename
#: or a tool rewriting files one after another, short enough that a single save reaches on_change
#: ~31 ms after the write (median of 20, inotify).
DEFAULT_DEBOUNCE = 0.03
#: The longest a batch waits from its first event (or ``debounce`` if longer): a file written
#: continuously still reloads. 20 modules rewritten 15 ms apart span ~300 ms, hence some margin.
MAX_BATCH_WAIT = 0.5
DEFAULT_POLL_INTERVAL = 0.25  # 4 walks of the tree per second; median latency ~130-155 ms
_RELEVANT_TYPES = frozenset({"modified", "created", "deleted", "moved", "closed"})
_EVENT_FILTER: list[type[ev.FileSystemEvent]] = [
    ev.FileModifiedEvent, ev.FileCreatedEvent, ev.FileDeletedEvent, ev.FileMovedEvent,
    ev.FileClosedEvent,
    ev.DirDeletedEvent, ev.DirCreatedEvent, ev.DirMovedEvent,  # a root removed, then back
]  # fmt: skip
#: Without a native API watchdog's ``Observer`` polls at its 1 s default; ours polls faster.
_NATIVE_IS_POLLING = issubclass(Observer, PollingObserver)  # type: ignore[arg-type]
_HAS_EVENT_FILTER = "event_filter" in inspect.signature(BaseObserver.schedule).parameters
_LIMITS = {
    errno.ENOSPC: "watch limit reached (raise fs.inotify.max_user_watches)",
    errno.EMFILE: "instance or open-file limit reached (raise fs.inotify.max_user_instances)",
}
#: watchdog 7.1 warns when ``mkdir -p a/b`` races its recursive watch (it re-adds a watch it
#: already holds, harmlessly). Under ``-W error`` that warning kills its reader thread and every
#: later change is silently missed, so start() ignores exactly this message, process-wide.
_SPURIOUS_WARNING = r"Callback with id .* already exists for watch"
#: How long stop() waits for each thread; a thread still alive after it is a daemon anyway.
STOP_JOIN_TIMEOUT = 5.0


def _own_path(path: str) -> str:
    """``path`` with its directory resolved but not its last part: the path at which a
    symlink (not its target) is seen in events."""
    path = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


class _Handler(ev.FileSystemEventHandler):
    def __init__(self, sink: Callable[[ev.FileSystemEvent], None]) -> None:
        super().__init__()
        self._sink = sink

    def dispatch(self, event: ev.FileSystemEvent) -> None:
        self._sink(event)


class Watcher:
    """Watch ``dirs`` and call ``on_change(sorted_paths)`` after each debounced batch."""

    def __init__(
        self,
        dirs: Sequence[str],
        *,
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = (),
        poll: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        debounce: float = DEFAULT_DEBOUNCE,
        files: Sequence[str] = (),
        on_change: Callable[[list[str]], None],
    ) -> None:
        self._filter = PathFilter(dirs, include, exclude)
        if poll_interval <= 0 or debounce < 0:
            raise WatcherError(f"need poll_interval > 0 and debounce >= 0, got {poll_interval!r}"
                               f" and {debounce!r}")  # fmt: skip
        self._poll = poll or _NATIVE_IS_POLLING
        self._poll_interval = poll_interval
        self._debounce = debounce
        self._on_change = on_change
        self.fallback_reason: str | None = None
        self.backend = self._label(None if self._poll else Observer)
        self._native = self._label(Observer).split(" ")[0]  # "inotify", "kqueue", "fsevents"...
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._first_at = self._last_at = 0.0  # of the pending batch's events
        self._state = "new"  # -> "running" -> "stopped"
        self._extra: set[str] = set()
        # Always watched: each file's own path (its directory resolved; a symlink repointed
        # there is a change) and its target, found again when a link changes.
        self._links = frozenset(_own_path(path) for path in files)
        self._files = frozenset(os.path.realpath(path) for path in self._links)
        self._extra_watches: dict[str, ObservedWatch] = {}
        self._root_watches: dict[str, ObservedWatch] = {}  # to drop and renew when one is gone
        self._lost: set[str] = set()  # roots removed (their parent watched until they are back)
        self._rearm = False  # the worker thread has roots to look after
        self._handler = _Handler(self._on_event)
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None
        self._tree = TreeWalk(self._filter, lambda path: path in self._extra_watches)
        self._probes: dict[str, threading.Event] = {}  # a probe's path -> heard

    def _label(self, native: object) -> str:
        if native is None:
            return f"polling every {self._poll_interval:g}s ({PollingObserverVFS.__name__})"
        name = getattr(native, "__name__", "?")  # InotifyObserver -> "inotify (InotifyObserver)"
        return f"{name.removesuffix('Observer').lower()} ({name})"

    def start(self) -> None:
        """Start watching; falls back to polling if the native backend hits a kernel limit."""
        with self._cond:
            if self._state != "new":
                raise WatcherError("a Watcher can be started only once")
            self._state = "running"
        warnings.filterwarnings("ignore", _SPURIOUS_WARNING, RuntimeWarning)
        self._worker = threading.Thread(target=self._run, name="simplewsgi-watcher", daemon=True)
        self._worker.start()
        try:
            try:
                self._observer = self._start_observer(polling=self._poll)
            except OSError as exc:
                self._fall_back(exc, "files")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop watching and join the threads. Idempotent; safe to call from ``on_change``."""
        with self._cond:
            if self._state == "stopped":
                return
            self._state = "stopped"
            self._cond.notify_all()
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(STOP_JOIN_TIMEOUT)
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(STOP_JOIN_TIMEOUT)

    def watch_file(self, path: str) -> None:
        """Also report changes to exactly ``path`` (as its real path), whatever the patterns.
        Idempotent."""
        path = os.path.realpath(path)
        with self._cond:
            if path in self._extra:
                return
            self._extra.add(path)
            observer = self._observer
        if observer is not None:
            try:
                self._watch_parent(observer, os.path.dirname(path))
            except OSError as exc:
                self._fall_back(exc, repr(path))

    def clear_extra_files(self) -> None:
        """Forget every path given to :meth:`watch_file` and unwatch their directories (but
        those of the constructor's ``files``)."""
        keep = {os.path.dirname(path) for path in self._files | self._links}
        with self._cond:
            keep |= {os.path.dirname(root) for root in self._lost}
            self._extra.clear()
            watches = {d: w for d, w in self._extra_watches.items() if d not in keep}
            self._extra_watches = {d: w for d, w in self._extra_watches.items() if d in keep}
            observer = self._observer
        if observer is not None:
            for watch in watches.values():
                with contextlib.suppress(KeyError):  # the observer was replaced meanwhile
                    observer.unschedule(watch)

    def _start_observer(self, *, polling: bool) -> BaseObserver:
        observer: BaseObserver
        if polling:
            observer = PollingObserverVFS(  # watchdog < 7 types the interval as int; floats work
                os.stat,
                self._tree.scandir,
                polling_interval=self._poll_interval,  # type: ignore[arg-type, unused-ignore]
            )
        else:
            observer = Observer()
        self.backend = self._label(None if polling else type(observer))
        observer.start()  # so that schedule() starts each emitter, and raises, in this thread
        try:
            roots = list(self._filter.top_roots)
            if not polling:  # inotify and kin do not follow symlinked directories: watch
                for real in self._tree.linked_dirs():  # their targets as roots of their own
                    self._filter.add_root(real)
                    roots.append(real)
            self._root_watches = {}
            for root in roots:
                self._root_watches[root] = self._schedule(observer, root, recursive=True)
            with self._cond:
                extra = sorted(self._extra | self._files | self._links)
            for path in extra:
                self._watch_parent(observer, os.path.dirname(path))
        except BaseException:
            observer.stop()
            observer.join(STOP_JOIN_TIMEOUT)
            raise
        return observer

    def _fall_back(self, exc: OSError, what: str) -> None:
        """Switch to polling after a kernel limit; any other error is the caller's."""
        if self._poll or exc.errno not in _LIMITS:
            raise WatcherError(f"cannot watch {what}: {exc}") from exc
        self._switch_to_polling(f"{self._native} {_LIMITS[exc.errno]}: {exc}")

    def _switch_to_polling(self, reason: str) -> None:
        old, self._observer = self._observer, None
        if old is not None:
            old.stop()
            old.join(STOP_JOIN_TIMEOUT)
        with self._cond:
            self._extra_watches.clear()
        self.fallback_reason = reason
        self._poll = True
        self._observer = self._start_observer(polling=True)

    def probe(self, deadline: float = PROBE_DEADLINE) -> None:
        """Check that the native backend hears a change in each watched root (see
        :mod:`.probe`); switch to polling, saying why, if one stays silent for ``deadline``."""
        if self._poll or self._observer is None:
            return
        probes = [(root, probe_path(root), threading.Event()) for root in self._filter.top_roots]
        self._probes = {path: heard for _, path, heard in probes}
        try:
            deaf = deaf_roots(probes, deadline)
        finally:
            self._probes = {}
        if deaf:
            self._switch_to_polling(f"no file events from {', '.join(deaf)} within {deadline:g} s")

    def _schedule(self, observer: BaseObserver, path: str, *, recursive: bool) -> ObservedWatch:
        if _HAS_EVENT_FILTER:
            return observer.schedule(
                self._handler, path, recursive=recursive, event_filter=_EVENT_FILTER
            )
        return observer.schedule(self._handler, path, recursive=recursive)  # pragma: no cover

    def _watch_parent(self, observer: BaseObserver, parent: str) -> None:
        with self._cond:
            known = parent in self._extra_watches
        if known or self._filter.covered(parent) or not os.path.isdir(parent):
            return
        watch = self._schedule(observer, parent, recursive=False)
        with self._cond:
            self._extra_watches[parent] = watch

    def _wanted(self, path: str) -> bool:
        return (
            path in self._extra
            or path in self._files
            or path in self._links
            or self._filter.wanted(path)
        )

    def _retarget(self) -> None:
        """A watched file's own path changed (a symlink repointed, a file renamed over it):
        watch its target from now on. On our worker thread, outside watchdog's lock."""
        targets = frozenset(os.path.realpath(path) for path in self._links)
        with self._cond:
            new = targets - self._files
            self._files = targets
            observer = self._observer
        if observer is not None:
            for path in sorted(new):
                try:
                    self._watch_parent(observer, os.path.dirname(path))
                except OSError as exc:
                    self._fall_back(exc, repr(path))

    def _on_event(self, event: ev.FileSystemEvent) -> None:
        """Runs on watchdog's dispatch thread: filter, then hand over to the worker."""
        if event.is_directory:
            self._root_event(event)
            return
        if event.event_type not in _RELEVANT_TYPES:
            return
        paths = [os.path.abspath(os.fsdecode(p)) for p in (event.src_path,
                 getattr(event, "dest_path", "")) if p]  # fmt: skip
        for heard in map(self._probes.get, paths):  # a probe: heard, never a change (filters)
            if heard is not None:
                heard.set()
        hits = {p for p in paths if self._wanted(p)}
        if hits:
            now = time.monotonic()
            with self._cond:
                if not self._pending:
                    self._first_at = now
                    self._cond.notify_all()  # later events only move the deadline away
                self._last_at = now
                self._pending |= hits

    def _root_event(self, event: ev.FileSystemEvent) -> None:
        """A directory event: a watched root removed (or moved away), or one removed back."""
        src = os.path.abspath(os.fsdecode(event.src_path))
        moved_to = getattr(event, "dest_path", "")
        dest = os.path.abspath(os.fsdecode(moved_to)) if moved_to else src
        with self._cond:
            gone = event.event_type in ("deleted", "moved") and src in self._root_watches
            back = event.event_type in ("created", "moved") and dest in self._lost
            if gone:
                self._lost.add(src)
            if gone or back:
                self._rearm = True
                self._cond.notify_all()

    def _watch_lost_roots(self) -> None:
        """On our worker thread: watch the parents of the roots that are gone, and the roots
        again that are back (their return is a change)."""
        with self._cond:
            self._rearm = False
            lost, observer = sorted(self._lost), self._observer
        if observer is None:
            return
        for root in lost:
            # The watch of a root that is gone is dead already (watchdog may say so, or not).
            with contextlib.suppress(KeyError, OSError):
                observer.unschedule(self._root_watches[root])
            try:
                self._watch_parent(observer, os.path.dirname(root))
                if os.path.isdir(root):
                    self._root_watches[root] = self._schedule(observer, root, recursive=True)
                    with self._cond:
                        self._lost.discard(root)
                        self._pending.add(root)
                        self._first_at = self._last_at = time.monotonic()
            except OSError as exc:
                self._fall_back(exc, repr(root))

    def _due(self) -> float:
        """When the pending batch is due: after ``debounce`` of quiet, at most a cap after its
        first event. Called with ``_cond`` held."""
        cap = max(MAX_BATCH_WAIT, self._debounce)
        return min(self._last_at + self._debounce, self._first_at + cap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._rearm and self._state == "running":
                    self._cond.wait()
                if self._state != "running":
                    return
                rearm = self._rearm
                while not rearm and (left := self._due() - time.monotonic()) > 0:
                    self._cond.wait(left)  # wakes at the old deadline, then waits on if moved
                    if self._state != "running":
                        return
                batch = [] if rearm else sorted(self._pending)
                if not rearm:
                    self._pending.clear()
            if rearm:
                try:
                    self._watch_lost_roots()
                except Exception:  # the thread must live on: later changes still count
                    logger.exception("watcher: cannot watch a removed root again")
                continue
            try:
                if self._links.intersection(batch):
                    self._retarget()
                self._on_change(batch)
            except Exception:
                logger.exception("watcher: on_change failed for %s", batch)
