"""Hand the terminal to pdb: whoever reads the keyboard shortcuts hears before pdb prompts,
and after it lets go.

Rules, and why:

- ``breakpoint()`` only starts tracing: pdb prompts later, from its trace function, once per
  stop. So the hook is on ``pdb.Pdb.interaction``, which every prompt goes through (``n``,
  ``s``, ``c`` then a breakpoint, ``post_mortem``; ``pdb.set_trace()`` called directly, and
  subclasses of ``pdb.Pdb`` that keep its ``interaction``; a debugger that does not, such as
  one of its own, is not seen).
- pdb is not imported here (tens of milliseconds for a worker that may never need it): the
  hook goes on when the app, or ``breakpoint()``, imports it, through an import finder that
  only ever answers for ``pdb``; at once if pdb is imported already.
- ``enter`` runs before the first prompt and returns once the keys are no longer read (the
  caller waits for that), so a key typed at the prompt is pdb's. ``leave`` runs when no
  thread has been at a prompt for :data:`LEAVE_DELAY`: stepping (a prompt after each ``n``)
  does not hand the terminal back and forth at each step.
- Standard library only: plain serving (run.py) and reloader workers install it.
"""

from __future__ import annotations

import functools
import importlib.machinery
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

LEAVE_DELAY = 0.3  # seconds without a prompt before the keys come back
_MARK = "_simplewsgi_handoff"


class Handoff:
    """Counts the prompts in progress (one per thread at most) and says when the first starts
    and, :data:`LEAVE_DELAY` after the last ended, when the terminal is free again."""

    def __init__(self, enter: Callable[[], None], leave: Callable[[], None]) -> None:
        self._enter, self._leave = enter, leave
        self._lock = threading.Lock()
        self._prompts = 0
        self._holding = False
        self._timer: threading.Timer | None = None

    def prompt_starts(self) -> None:
        with self._lock:
            self._prompts += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._holding:
                self._holding = True
                self._enter()  # under the lock: a second thread's prompt waits for the hand-off

    def prompt_ends(self) -> None:
        with self._lock:
            self._prompts -= 1
            if self._prompts == 0:
                self._timer = threading.Timer(LEAVE_DELAY, self._release)
                self._timer.daemon = True
                self._timer.start()

    def _release(self) -> None:
        with self._lock:
            if self._prompts == 0 and self._holding:
                self._holding = False
                self._leave()


def install(enter: Callable[[], None], leave: Callable[[], None]) -> Handoff:
    """Have every pdb prompt of this process call ``enter`` first and ``leave`` after (see
    the module's rules)."""
    handoff = Handoff(enter, leave)
    if "pdb" in sys.modules:
        _wrap(sys.modules["pdb"], handoff)
    else:
        sys.meta_path.insert(0, _PdbFinder(handoff))
    return handoff


def _wrap(pdb: ModuleType, handoff: Handoff) -> None:
    cls = getattr(pdb, "Pdb", None)
    original = getattr(cls, "interaction", None)
    if cls is None or original is None or getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def interaction(self: Any, *args: Any, **kwargs: Any) -> Any:
        handoff.prompt_starts()
        try:
            return original(self, *args, **kwargs)
        finally:
            handoff.prompt_ends()

    setattr(interaction, _MARK, True)
    cls.interaction = interaction


class _PdbFinder:
    """A meta path finder that finds pdb as the standard path finder does, and wraps it once
    it has run; it answers nothing else, and leaves ``sys.meta_path`` after that."""

    def __init__(self, handoff: Handoff) -> None:
        self._handoff = handoff

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "pdb":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _wrap(module, self._handoff)
            if self in sys.meta_path:
                sys.meta_path.remove(self)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
