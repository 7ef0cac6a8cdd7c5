"""What the reloader counts as a change: the watched roots, include/exclude patterns, ignore lists.

Rules, and why:

- A path counts if a glob (``fnmatch``) in ``include`` matches its basename, its path relative
  to a watched directory, or one of its parent directories by name or relative path (``*.html``,
  ``templates/*.html``, ``.env``, ``config/*.toml``; ``templates`` takes every file below it).
  ``exclude`` is matched the same way (``build``, ``logs/*``) and wins over ``include``; the
  ``ALWAYS_IGNORED_*`` lists win over everything. Patterns are normalised once, so that every
  way of naming a place works: ``./tests``, ``tests/`` and ``./tests/*`` mean ``tests`` and
  ``tests/*``; an absolute pattern (``/srv/app/tests``) is matched against full paths, only
  under the watched directory it names (spelled through a symlink or not). A pattern that can
  match nothing (empty, ``.``, ``../x``, absolute outside every watched directory or naming one
  itself) is a ``WatcherError``, not a silent no-op.
- Ignored and excluded directories are never walked by the poller (:meth:`PathFilter.prune`),
  nor a virtual environment (a directory holding ``pyvenv.cfg``), whatever its name.

Standard library only: the watcher applies this filter to watchdog's events and to the
poller's walk; the supervisor reads :data:`DEFAULT_INCLUDE` without importing watchdog.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Iterable, Sequence

DEFAULT_INCLUDE: tuple[str, ...] = ("*.py",)

ALWAYS_IGNORED_DIRS: tuple[str, ...] = (
    "__pycache__", ".git", ".hg", ".svn", ".venv", "venv", "node_modules",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", "site-packages", "*.egg-info",
)  # fmt: skip
#: A directory holding this file is a virtual environment (``env/``, ``.env3/``...): ignored.
VENV_MARKER = "pyvenv.cfg"
#: The start-up probe's files (:mod:`.probe`): ours, stale ones, other servers'.
PROBE_PREFIX = ".simplewsgi-probe-"
ALWAYS_IGNORED_FILES: tuple[str, ...] = (
    "*.pyc", "*.pyo", "*.swp", "*.swo", "*.swx", "*~", ".#*", "#*#",
    "4913",  # vim creates and deletes it to probe whether the directory is writable
    "*.tmp", ".DS_Store", PROBE_PREFIX + "*",
)  # fmt: skip


class WatcherError(Exception):
    """The watcher cannot be set up as asked (e.g. a reload directory does not exist)."""


def _matches(names: Iterable[str], patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(name, pat) for pat in patterns for name in names)


def _relative(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators, or None if it is not below it."""
    prefix = root if root.endswith(os.sep) else root + os.sep
    if not path.startswith(prefix):
        return None
    return path[len(prefix) :].replace(os.sep, "/")


class _Patterns:
    """``--reload-include`` or ``--reload-exclude``, normalised (see the module's rules)."""

    def __init__(self, option: str, patterns: Iterable[str], roots: dict[str, str]) -> None:
        """``roots`` maps each directory as given (made absolute) to its real path."""
        self.relative: list[str] = []
        self.absolute: list[str] = []
        for pattern in patterns:
            if os.path.isabs(pattern):
                self.absolute.append(self._under_a_root(option, pattern, roots))
                continue
            norm = posixpath.normpath(pattern.replace(os.sep, "/"))  # ./a/ -> a, a//b -> a/b
            if norm == "." or norm.split("/")[0] == "..":
                raise WatcherError(f"{option} pattern {pattern!r} matches nothing below the"
                                   " watched directories")  # fmt: skip
            self.relative.append(norm)

    @staticmethod
    def _under_a_root(option: str, pattern: str, roots: dict[str, str]) -> str:
        """``pattern`` with its watched directory spelled as the real path, as events are."""
        parts = os.path.normpath(pattern).split(os.sep)
        magic = next((i for i, p in enumerate(parts) if any(c in p for c in "*?[")), len(parts))
        literal, tail = os.sep.join(parts[:magic]) or os.sep, parts[magic:]
        spellings = [*roots.items(), *((real, real) for real in roots.values())]
        for candidate in dict.fromkeys((literal, os.path.realpath(literal))):
            for given, real in spellings:
                rest = "" if candidate == given else _relative(given, candidate)
                if rest is not None and (rest or tail):
                    return os.path.join(real, rest, *tail)
        raise WatcherError(f"{option} pattern {pattern!r} is absolute but names nothing below"
                           " a watched directory")  # fmt: skip

    def match(self, name: str, rel: str, full: str) -> bool:
        """True if a relative pattern matches ``name`` or ``rel``, or an absolute one ``full``."""
        return _matches((name, rel), self.relative) or _matches((full,), self.absolute)


class PathFilter:
    """The watched directories (as real paths) and what counts below them."""

    def __init__(self, dirs: Sequence[str], include: Sequence[str], exclude: Sequence[str]) -> None:
        given: dict[str, str] = {}  # absolute path as given -> real path
        for d in dirs:
            if not os.path.isdir(d):
                raise WatcherError(f"reload directory {d!r} does not exist or is not a directory")
            given[os.path.abspath(d)] = os.path.realpath(d)
        self.roots = tuple(dict.fromkeys(given.values()))
        # A directory nested in another given one is covered by the outer recursive watch.
        self.top_roots = [r for r in self.roots if not any(_relative(o, r) for o in self.roots)]
        self._include = _Patterns("include", include, given)
        self._exclude = _Patterns("exclude", exclude, given)
        self._venvs: set[str] = set()

    def add_root(self, real: str) -> None:
        """Also count changes below ``real``: a directory reached through a symlink below a
        root, which the native backends watch at its real path."""
        if real not in self.roots:
            self.roots = (*self.roots, real)

    def contains_a_root(self, real: str) -> bool:
        """True if ``real`` is a watched root or above one: a symlink to it (``ln -s / x``,
        ``ln -s .. up``) would make a walk take in the whole tree around the project."""
        prefix = real.rstrip(os.sep) + os.sep
        return any(root == real or root.startswith(prefix) for root in self.roots)

    def covered(self, directory: str) -> bool:
        """True if a recursive watch sees ``directory`` (and the poller descends into it)."""
        for root in self.top_roots:
            rel = "" if directory == root else _relative(root, directory)
            if rel is not None:
                return not self._in_ignored_dir(root, rel.split("/") if rel else [])
        return False

    def prune(self, entry: os.DirEntry[str]) -> bool:
        """True for a directory the poller must not walk: ignored, excluded, a venv."""
        full = os.path.abspath(entry.path)
        rels = [r for r in (_relative(root, full) for root in self.roots) if r is not None]
        return any(self._ignored_dir(full, rel) for rel in rels or [entry.name])

    def _in_ignored_dir(self, root: str, parts: list[str]) -> bool:
        """True if root/parts[0], root/parts[0]/parts[1], ... is an ignored directory."""
        return any(
            self._ignored_dir(os.path.join(root, *parts[: i + 1]), "/".join(parts[: i + 1]))
            for i in range(len(parts))
        )

    def _ignored_dir(self, directory: str, rel: str) -> bool:
        name = os.path.basename(directory)
        if _matches((name,), ALWAYS_IGNORED_DIRS) or self._exclude.match(name, rel, directory):
            return True
        if directory not in self._venvs and os.path.isfile(os.path.join(directory, VENV_MARKER)):
            self._venvs.add(directory)  # remembered: events inside a venv come in floods
        return directory in self._venvs

    def wanted(self, path: str) -> bool:
        """True if a change to the file ``path`` (a real path) counts."""
        included = False
        for root in self.roots:
            rel = _relative(root, path)
            if rel is None:
                continue
            parts = rel.split("/")
            name = parts[-1]
            if _matches((name,), ALWAYS_IGNORED_FILES) or self._exclude.match(name, rel, path):
                return False
            if self._in_ignored_dir(root, parts[:-1]):
                return False
            included = included or (
                self._include.match(name, rel, path) or self._in_included_dir(root, parts[:-1])
            )
        return included

    def _in_included_dir(self, root: str, parts: list[str]) -> bool:
        """True if root/parts[0], root/parts[0]/parts[1], ... matches an include pattern."""
        return any(
            self._include.match(
                parts[i], "/".join(parts[: i + 1]), os.path.join(root, *parts[: i + 1])
            )
            for i in range(len(parts))
        )
