"""``--live``, the supervisor's side: which changes only refresh the pages, and what to tell the
serving worker (whose :mod:`~simplewsgi.middleware.livehub` tells the pages).

Rules, and why:

- The ``--static`` directories are watched too: their files are what the pages show.
- A change refreshes the pages without a new worker only when every changed file matches
  ``--live-include`` and none matches the reload patterns (``*.py``, ``--reload-include``): a
  template a framework caches is put in ``--reload-include``, and restarts the app. Anything
  else is a reload, after which the pages refresh because a newer worker says hello.
- Only stylesheets changed: the pages swap them in place (named by their file names), no reload.
- Each worker told to serve gets a generation larger than any before, also across restarts of
  the command (microseconds of the clock, kept increasing): a page served by an earlier server
  reloads when the next one comes up.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from simplewsgi.reload import messages
from simplewsgi.reload.filters import DEFAULT_INCLUDE, PathFilter
from simplewsgi.reload.paths import describe_paths

if TYPE_CHECKING:
    from collections.abc import Iterable

    from simplewsgi.options import ServeOptions
    from simplewsgi.reload.process import WorkerProcess

REFRESH, SWAP_CSS, FAILED = "reload", "css", "failed"  # the LIVE command's actions


class LivePages:
    """What ``--live`` adds to the supervisor: directories, patterns, generations."""

    def __init__(self, options: ServeOptions, dirs: Iterable[str]) -> None:
        from simplewsgi.middleware.static import load_mount  # here: only --live needs it

        static = [load_mount(spec).directory for spec in options.static]
        self.dirs = list(dict.fromkeys([*dirs, *(d for d in static if os.path.isdir(d))]))
        self.include = options.live_include
        restart = (*DEFAULT_INCLUDE, *options.reload_include)
        self._restart = PathFilter(self.dirs, restart, options.reload_exclude)
        self._refresh = PathFilter(self.dirs, options.live_include, options.reload_exclude)
        self._generation = 0

    def next_generation(self) -> int:
        self._generation = max(self._generation + 1, time.time_ns() // 1000)
        return self._generation

    def refresh_only(self, paths: Iterable[str]) -> bool:
        """True if these changes need the pages refreshed, and no new worker."""
        paths = list(paths)
        return bool(paths) and all(
            self._refresh.wanted(path) and not self._restart.wanted(path) for path in paths
        )

    def refresh(self, worker: WorkerProcess, paths: Iterable[str]) -> str:
        """Tell ``worker``'s pages to refresh (or swap stylesheets); the terminal's line."""
        paths = set(paths)
        names = sorted({os.path.basename(path) for path in paths})
        css = all(name.endswith(".css") for name in names)
        worker.tell(messages.LIVE, action=SWAP_CSS if css else REFRESH, files=names)
        done = "swapped stylesheets in open pages" if css else "refreshed open pages"
        return f"{done} (changed: {describe_paths(paths)})"

    @staticmethod
    def failed(worker: WorkerProcess, report: messages.FailureReport) -> None:
        """The reload failed and ``worker`` keeps serving: its pages show the error page."""
        worker.tell(messages.LIVE, action=FAILED, report=report)
