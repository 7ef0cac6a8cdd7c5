"""Paths the reloader works with: what to watch, the bytecode to drop, how to name a change."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from typing import TYPE_CHECKING

from simplewsgi.appspec import locate_file, parse_spec
from simplewsgi.http.text import CONTROL_CHAR_ESCAPES
from simplewsgi.reload.failure import display_path

if TYPE_CHECKING:
    from simplewsgi.options import ServeOptions

SHOWN_CHANGES = 3  # "changed: a.py, b.py, c.py and 2 more"


def watch_dirs(options: ServeOptions) -> list[str]:
    """``--reload-dir`` as given; by default the app dir, plus a ``file.py`` APP's directory
    (found as the importer finds it: from the current directory, else from ``--app-dir``)."""
    if options.reload_dirs:
        return list(options.reload_dirs)
    app_dir = os.path.abspath(options.app_dir)
    dirs = [app_dir]
    if options.app is not None:
        spec = parse_spec(options.app)  # the CLI has checked it already
        if spec.is_file:
            here = os.path.dirname(os.path.abspath(locate_file(spec.module, app_dir)))
            if not (here + os.sep).startswith(app_dir.rstrip(os.sep) + os.sep):
                dirs.append(here)
    return dirs


def drop_bytecode(paths: frozenset[str]) -> None:
    """Delete the cached bytecode of changed sources: a same-size edit within the same second
    would otherwise pass ``.pyc`` validation and serve the old code."""
    for path in paths:
        if not path.endswith(".py"):
            continue
        for level in ("", 1, 2):
            with contextlib.suppress(OSError, ValueError, NotImplementedError):
                os.unlink(importlib.util.cache_from_source(path, optimization=level))


def describe_paths(paths: set[str]) -> str:
    """For the terminal: a file name is anyone's text (an upload saved in a watched
    directory), so its control characters are escaped, never sent to the terminal."""
    names = sorted(display_path(path).translate(CONTROL_CHAR_ESCAPES) for path in paths)
    more = len(names) - SHOWN_CHANGES
    return ", ".join(names[:SHOWN_CHANGES]) + (f" and {more} more" if more > 0 else "")
