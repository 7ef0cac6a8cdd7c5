"""Walking the watched trees: the poller's directory listing, and the symlinked directories
that a native watch must be given as roots of their own (inotify does not follow symlinks).

Rules, and why: each real directory (device and inode) is listed once per walk, so ``ln -s .
self`` is not walked forever; a symlink to a watched root or above one (``ln -s / all``) is
never followed, or a walk would take in the whole tree around the project; ignored, excluded
and virtual-environment directories are not entered (:meth:`.filters.PathFilter.prune`).
Standard library only; :mod:`.watcher` hands these to watchdog.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

from simplewsgi.reload.filters import PathFilter


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


class TreeWalk:
    """Walks below ``path_filter``'s roots; ``starts_walk(path)`` is True for a directory whose
    listing starts a new walk (besides the roots: the watcher's extra directories)."""

    def __init__(self, path_filter: PathFilter, starts_walk: Callable[[str], bool]) -> None:
        self._filter = path_filter
        self._starts_walk = starts_walk
        self._walk = threading.local()  # per poller thread: real directories listed this walk

    def scandir(self, path: str | None) -> Iterator[os.DirEntry[str]]:
        """The poller's listdir: what :meth:`_walkable` keeps. A walk of the tree starts by
        listing its watched directory, which starts a new record of what it has listed."""
        seen: set[tuple[int, int]] | None = getattr(self._walk, "seen", None)
        if (
            seen is None
            or path in self._filter.top_roots
            or (path is not None and self._starts_walk(path))
        ):
            seen = self._walk.seen = set()
            with contextlib.suppress(OSError):
                seen.add(_identity(os.stat(path or os.curdir)))
        with os.scandir(path) as it:
            return iter([entry for entry in it if self._walkable(entry, seen)])

    def _walkable(self, entry: os.DirEntry[str], seen: set[tuple[int, int]]) -> bool:
        """Files, and the directories worth walking into (the module's rules)."""
        try:
            if not entry.is_dir():  # following a symlink
                return True
            if entry.is_symlink():
                if self._filter.contains_a_root(os.path.realpath(entry.path)):
                    return False
            elif self._filter.prune(entry):
                return False
            identity = _identity(entry.stat())
        except OSError:  # vanished meanwhile, or a dangling or looping link
            return False
        if identity in seen:
            return False  # listed already in this walk: a loop or a second link
        seen.add(identity)
        return True

    def linked_dirs(self) -> list[str]:
        """Real paths of the directories reached through symlinks below the roots, each once
        (one walk of the tree, with the poller's rules)."""
        seen: set[tuple[int, int]] = set()
        for root in self._filter.top_roots:
            with contextlib.suppress(OSError):
                seen.add(_identity(os.stat(root)))
        linked: list[str] = []
        pending = list(self._filter.top_roots)
        while pending:
            try:
                with os.scandir(pending.pop()) as it:
                    entries = [e for e in it if e.is_dir() and self._walkable(e, seen)]
            except OSError:
                continue
            for entry in entries:
                if entry.is_symlink():
                    linked.append(os.path.realpath(entry.path))
                pending.append(entry.path)
        return linked
