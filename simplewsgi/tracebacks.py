"""Tracebacks as the developer reads them: the app's frames, the server's own folded away.

Rules of this module:
- A frame is the app's, simplewsgi's (a file under this package), the standard library's
  (under the directory of ``os``, or a frozen module) or a library's (a ``site-packages`` or
  ``dist-packages`` directory), by its file name alone: :func:`frame_kind`.
- :func:`format_exception` is ``traceback.format_exception`` with each run of simplewsgi's
  frames replaced by one line saying how many were hidden (``fold=False``: every frame, as
  ``--debug`` asks). Chained exceptions keep their "During handling..." lines; an exception
  group (Python 3.11+) is written whole, unfolded, as the standard library writes it.
- Standard library only; imported when an app raises, never on the way to serving.
"""

from __future__ import annotations

import os
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

APP = "app"
SERVER = "simplewsgi"
STDLIB = "the standard library"
LIBRARY = "a library"

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__)) + os.sep
_LIBRARY_DIRS = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")
CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_KINDS_MAX = 4096
_kinds: dict[str, str] = {}


def frame_kind(filename: str) -> str:
    """Whose code ``filename`` is: :data:`APP`, :data:`SERVER`, :data:`STDLIB` or
    :data:`LIBRARY`."""
    kind = _kinds.get(filename)
    if kind is None:
        if filename.startswith("<frozen "):
            kind = STDLIB
        elif filename.startswith("<"):  # <string>, <stdin>: code the app compiled
            kind = APP
        else:
            path = os.path.abspath(filename)
            if path.startswith(PACKAGE_DIR):
                kind = SERVER
            elif any(part in path for part in _LIBRARY_DIRS):
                kind = LIBRARY
            elif path.startswith(STDLIB_DIR):
                kind = STDLIB
            else:
                kind = APP
        if len(_kinds) < _KINDS_MAX:
            _kinds[filename] = kind
    return kind


def chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """``exc`` and the exceptions it was raised from or during, oldest first, each with the
    sentence written after it (``""`` after ``exc``)."""
    links: list[tuple[BaseException, str]] = [(exc, "")]
    seen = {id(exc)}
    while True:
        newest = links[-1][0]
        if newest.__cause__ is not None:
            older, sentence = newest.__cause__, CAUSE
        elif newest.__context__ is not None and not newest.__suppress_context__:
            older, sentence = newest.__context__, CONTEXT
        else:
            break
        if id(older) in seen:
            break
        seen.add(id(older))
        links.append((older, sentence))
    return links[::-1]  # each sentence is written after its (older) exception


def hidden_line(count: int) -> str:
    frames = "frame" if count == 1 else "frames"
    return f"  [{count} {frames} of simplewsgi hidden; --debug shows all]\n"


def _frames(summary: traceback.StackSummary, fold: bool) -> Iterator[str]:
    run: list[traceback.FrameSummary] = []
    hidden = 0
    for frame in summary:
        if fold and frame_kind(frame.filename) == SERVER:
            if run:
                yield from traceback.StackSummary.from_list(run).format()
                run = []
            hidden += 1
        else:
            if hidden:
                yield hidden_line(hidden)
                hidden = 0
            run.append(frame)
    if run:
        yield from traceback.StackSummary.from_list(run).format()
    if hidden:
        yield hidden_line(hidden)


# What a traceback may hold that a terminal would act on (line breaks and tabs are text).
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c not in (0x09, 0x0A)}


def format_exception(exc: BaseException, fold: bool = True) -> str:
    """The traceback of ``exc`` as text, simplewsgi's frames folded unless ``fold`` is False.
    Control characters but newlines and tabs are escaped: a message may quote the request
    (``ValueError: bad path /x<ESC>]0;...``), and a terminal would obey them."""
    return _terminal_safe(_format(exc, fold))


def _terminal_safe(text: str) -> str:
    return text.translate(_ESCAPES)


def _format(exc: BaseException, fold: bool) -> str:
    if not fold:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    lines: list[str] = []
    for item, sentence in chain(exc):
        if isinstance(item, _exception_groups()):
            lines += traceback.format_exception(type(item), item, item.__traceback__, chain=False)
        else:
            if item.__traceback__ is not None:
                lines.append("Traceback (most recent call last):\n")
                lines += _frames(traceback.extract_tb(item.__traceback__), fold)
            lines += traceback.format_exception_only(type(item), item)
        lines.append(sentence)
    return "".join(lines)


def _exception_groups() -> tuple[type[BaseException], ...]:
    import builtins

    group = getattr(builtins, "BaseExceptionGroup", None)
    return (group,) if group is not None else ()
