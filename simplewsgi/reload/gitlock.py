"""No reload while git rewrites the tree: changes seen while a watched root's repository has
``index.lock`` are held, and give one reload when the lock is gone.

Rules, and why:

- ``git checkout``, ``rebase``, ``stash`` and ``merge`` hold ``index.lock`` while they rewrite
  the working tree, file by file: a reload in between imports half of one commit and half of
  another, and fails or, worse, serves a mix.
- The repositories are found once, at start: from each watched directory upwards, the first
  ``.git``, a directory or a file saying ``gitdir: <path>`` (worktrees, submodules). The lock is
  looked for only when a change arrives, and then every :data:`CHECK_EVERY` while held: one
  ``stat`` per repository, no thread.
- A lock that stays longer than :data:`HOLD_LIMIT` (a git command waiting for an editor, or a
  stale lock left by a crashed one) does not block reloading forever: the held changes reload
  anyway and the supervisor says why.
- A hold is announced only once it lasts :data:`NOTICE_AFTER`: ``git status`` (run by editors
  after each save) takes the lock for milliseconds, which is not worth a line.
- Pure bookkeeping: the supervisor's loop passes ``now`` (``time.perf_counter()``) in and asks
  when to look again, so tests drive it with their own clock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Optional

LOCK_NAME = "index.lock"
HOLD_LIMIT = 10.0  # seconds a lock may hold changes back
CHECK_EVERY = 0.05  # how often a held batch looks whether the lock is gone
NOTICE_AFTER = 0.5  # a hold this long is announced


def git_dir(start: str) -> Optional[str]:
    """The git directory of the repository holding ``start``, or None."""
    here = os.path.abspath(start)
    while True:
        dot_git = os.path.join(here, ".git")
        if os.path.isdir(dot_git):
            return dot_git
        if os.path.isfile(dot_git):
            try:
                with open(dot_git, encoding="utf-8") as f:
                    line = f.readline().strip()
            except (OSError, UnicodeDecodeError):
                return None
            if line.startswith("gitdir:"):
                return os.path.join(here, line[len("gitdir:") :].strip())  # relative or not
            return None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def index_locks(dirs: Iterable[str]) -> tuple[str, ...]:
    """The ``index.lock`` path of each repository holding one of ``dirs``, each once."""
    found = (git_dir(d) for d in dirs)
    return tuple(dict.fromkeys(os.path.join(g, LOCK_NAME) for g in found if g is not None))


class GitLockGate:
    """Holds changed paths while a lock exists; releases them as one batch."""

    def __init__(self, locks: tuple[str, ...], limit: float = HOLD_LIMIT) -> None:
        self.locks = locks
        self.limit = limit
        self.held: set[str] = set()
        self._since: Optional[float] = None  # when the first held change arrived
        self._lock = ""  # the lock that holds them
        self._next_check = 0.0
        self._told = False  # the hold has been announced
        # A lock that outlived the limit, as (inode, mtime): it holds nothing back any more.
        self._stale: dict[str, tuple[int, int]] = {}

    def locked(self) -> Optional[str]:
        """The first lock that exists now and has not outlived the limit already, or None."""
        for lock in self.locks:
            try:
                stat = os.stat(lock)
            except OSError:
                self._stale.pop(lock, None)
                continue
            if self._stale.get(lock) != (stat.st_ino, stat.st_mtime_ns):
                return lock
        return None

    def hold(self, paths: Iterable[str], now: float) -> bool:
        """Hold ``paths`` if a lock exists or changes are held already; True if held."""
        if self._since is None:
            lock = self.locked()
            if lock is None:
                return False
            self._since, self._lock, self._told = now, lock, False
            self._next_check = now + CHECK_EVERY
        self.held.update(paths)
        return True

    @property
    def holding(self) -> bool:
        return self._since is not None

    def due(self) -> Optional[float]:
        """When the loop should call :meth:`poll` next, or None if nothing is held."""
        return self._next_check if self._since is not None else None

    def poll(self, now: float) -> Optional[tuple[frozenset[str], str]]:
        """What to do now: None (nothing), ``(empty, notice)`` once a hold lasts longer than
        :data:`NOTICE_AFTER` (a ``git status`` takes the lock for milliseconds: not worth a
        line), or the held paths once the lock is gone (``""``) or outlived the limit (then
        with a warning: the lock is still there, and holds nothing back from now on)."""
        if self._since is None or now < self._next_check:
            return None
        self._next_check = now + CHECK_EVERY
        lock = self.locked()
        if lock is not None and now - self._since < self.limit:
            if self._told or now - self._since < NOTICE_AFTER:
                return None
            self._told = True
            return frozenset(), f"git is at work ({lock} exists): the reload waits for it"
        paths, self.held, self._since = frozenset(self.held), set(), None
        if lock is None:
            return paths, ""
        with contextlib.suppress(OSError):
            stat = os.stat(lock)
            self._stale[lock] = (stat.st_ino, stat.st_mtime_ns)
        return paths, (
            f"{lock} is still there after {self.limit:g} s (a git command waiting for its"
            " editor, or a lock left by one that crashed?): reloading anyway"
        )
