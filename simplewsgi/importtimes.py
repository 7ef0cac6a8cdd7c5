"""How long the modules a reloader worker imports with the app take: the slowest, for a slow
reload's report ("slowest imports: pandas 420 ms, app.models 130 ms").

Rules of this module:
- Measured while the worker imports the app (:class:`ImportTimer`, a context manager), and
  only there: a finder first on ``sys.meta_path`` times each module's execution, and leaves
  when the import is done. A module already imported (everything the warm spare loaded) costs
  nothing; a new one a few microseconds, against the tens to thousands its import takes.
- A module's loader is wrapped only until its code starts to run: ``__loader__`` and
  ``__spec__.loader`` are the real loader again before the module's code runs, so nothing the
  app or a library reads of its modules differs.
- Each module counts its own time (its nested imports are theirs), summed per top-level
  package (``pandas`` is all of ``pandas.*``), except the app's own package, whose modules are
  named one by one (``app.models``): that is what the developer can change.
- Only the thread that imports the app is timed (threads the app starts import on their own).
- Standard library only: the worker loads it before any user code.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import types
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec

SLOW_RELOAD_MS = 500.0  # a reload slower than this names its slowest imports
SHOWN_IMPORTS = 3  # how many
MIN_SHOWN_MS = 5.0  # an import faster than this is not worth naming


class ImportTimer:
    """``with ImportTimer() as timer: import_the_app()``, then :meth:`slowest`."""

    def __init__(self) -> None:
        self._thread = threading.get_ident()
        self._own: dict[str, float] = {}  # module -> its own seconds (without nested imports)
        self._stack: list[float] = []  # the nested imports' seconds, per import in progress

    def __enter__(self) -> ImportTimer:
        sys.meta_path.insert(0, self)  # type: ignore[arg-type, unused-ignore]
        return self

    def __exit__(self, *exc: object) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # type: ignore[arg-type, unused-ignore]

    def find_spec(
        self, name: str, path: Optional[Sequence[str]], target: Optional[types.ModuleType] = None
    ) -> Optional[ModuleSpec]:
        """The spec the other finders give, its loader timed; None lets them answer as usual."""
        if threading.get_ident() != self._thread:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            if find is None:
                continue
            spec: Optional[ModuleSpec] = find(name, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _TimedLoader(spec.loader, self)  # type: ignore[assignment]
            return spec
        return None

    def _run(self, loader: Any, module: types.ModuleType) -> None:
        self._stack.append(0.0)
        start = time.perf_counter()
        try:
            loader.exec_module(module)
        finally:
            took = time.perf_counter() - start
            nested = self._stack.pop()
            if self._stack:
                self._stack[-1] += took
            name = module.__name__
            self._own[name] = self._own.get(name, 0.0) + took - nested

    def slowest(self, app_package: Optional[str]) -> list[tuple[str, float]]:
        """The slowest imports, ``(name, ms)``, slowest first; ``app_package`` (the APP's
        top-level module) is named module by module."""
        totals: dict[str, float] = {}
        for name, seconds in self._own.items():
            top = name.partition(".")[0]
            key = name if top == app_package else top
            totals[key] = totals.get(key, 0.0) + seconds * 1000.0
        ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
        return [(name, round(ms, 1)) for name, ms in ranked[:SHOWN_IMPORTS] if ms >= MIN_SHOWN_MS]


class _TimedLoader:
    """The real loader, until the module's code runs (then the module sees the real one)."""

    def __init__(self, loader: Any, timer: ImportTimer) -> None:
        self._loader = loader
        self._timer = timer

    def create_module(self, spec: ModuleSpec) -> Optional[types.ModuleType]:
        spec.loader = self._loader
        create = getattr(self._loader, "create_module", None)
        module: Optional[types.ModuleType] = create(spec) if create is not None else None
        spec.loader = self  # type: ignore[assignment]  # the import system calls exec_module on it
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._timer._run(self._loader, module)

    def __getattr__(self, name: str) -> Any:  # anything else a caller asks of the loader
        return getattr(self._loader, name)


def app_package(app: Optional[str]) -> Optional[str]:
    """The top-level module an APP string imports (a file APP: the file's name)."""
    if app is None:
        return None
    module = app.partition(":")[0].strip()
    if module.endswith(".py") or "/" in module or "\\" in module:
        return module.replace("\\", "/").rpartition("/")[2][: -len(".py")] or None
    return module.partition(".")[0] or None


def slow_reload_note(elapsed_ms: float, imports: Sequence[Sequence[Any]]) -> str:
    """``; slowest imports: pandas 420 ms, app.models 130 ms`` for a slow reload, else ``""``."""
    if elapsed_ms <= SLOW_RELOAD_MS or not imports:
        return ""
    return "; slowest imports: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports)
