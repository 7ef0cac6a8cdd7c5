"""Turn an APP string into a WSGI callable.

Accepted forms: ``module:attr`` (dotted on both sides), ``module`` alone (tries ``app`` then
``application``), ``path/to/file.py[:attr]``, and a factory call with literal arguments,
``module:create_app('dev', debug=True)``.

Rules:
- The library raises, never exits: every failure is an :class:`AppImportError` subclass whose
  message names the value received and the form expected; ``cli/commands.py`` maps them to exit
  statuses.
- The APP string is never evaluated, and is checked before any user code is imported
  (:mod:`simplewsgi.appspec`, whose names are also importable from here).
- "The module does not exist" (:class:`AppModuleNotFound`) is kept apart from "the user's module
  raised while importing" (:class:`AppRaisedOnImport`); the latter carries the user's traceback
  without our frames or importlib's, and the file the reloader must watch until it is fixed.
- The static scan for shell completion, which never imports, lives in
  :mod:`simplewsgi.cli.completion`.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import traceback
import types
from typing import TYPE_CHECKING, Any, cast

from simplewsgi.appspec import (
    EXPECTED_FORM,
    AppFactorySyntaxError,
    AppImportError,
    AppSpec,
    AppSpecError,
    locate_file,
    parse_spec,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = [
    "DEFAULT_APP_NAMES", "EXPECTED_FORM", "AppAttributeNotFound", "AppFactoryError",
    "AppFactorySyntaxError", "AppImportError", "AppModuleNotFound", "AppNotCallable",
    "AppRaisedOnImport", "AppSpec", "AppSpecError", "import_app", "one_line", "parse_spec",
    "user_location",
]  # fmt: skip


DEFAULT_APP_NAMES = ("app", "application")
MAX_LISTED_NAMES = 10  # "available: ..." beyond this is noise on a terminal

# Traceback trimming: our frames and importlib's are dropped; library frames are kept but are not
# "the user's file" the reloader should watch.
_HERE = os.path.dirname(os.path.abspath(__file__))
_IMPORTLIB = os.path.dirname(os.path.abspath(importlib.__file__))
_STDLIB = os.path.dirname(os.path.abspath(os.__file__))
_PACKAGE_DIRS = frozenset({"site-packages", "dist-packages"})


class AppModuleNotFound(AppImportError):
    """The module, or one of its parent packages, does not exist; the message names it."""


class AppAttributeNotFound(AppImportError):
    """The module exists but lacks the attribute; the message suggests callables it does have."""


class AppNotCallable(AppImportError):
    """The APP resolved to something a server cannot call: a module, a constant, ``None``."""


class AppFactoryError(AppImportError):
    """The factory raised; the original exception is kept as ``__cause__``."""


class AppRaisedOnImport(AppImportError):
    """The user's module raised while importing (SyntaxError, an ImportError inside it, anything).

    ``user_traceback`` is the traceback without simplewsgi and importlib frames; ``filename`` and
    ``lineno`` locate the syntax error or the innermost user frame, so the reloader can watch that
    file and retry once it is fixed.
    """

    def __init__(
        self, message: str, user_traceback: str, filename: str | None, lineno: int | None
    ) -> None:
        super().__init__(message)
        self.user_traceback = user_traceback
        self.filename = filename
        self.lineno = lineno

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the attributes across pickling: a worker may report this to its supervisor.
        return (type(self), (str(self), self.user_traceback, self.filename, self.lineno))


def import_app(spec: str, *, app_dir: str | None = None, factory: bool = False) -> WSGIApplication:
    """Import the app named by ``spec`` and return it, checked to be callable.

    ``app_dir`` (default: the current directory) goes first on ``sys.path``; a relative file path
    in ``spec`` is relative to the current directory, else to ``app_dir``. ``factory=True`` calls
    the resolved attribute with no arguments; an explicit call in ``spec`` is that call, never
    made twice.
    """
    # The whole string is checked before sys.path changes or any user code runs.
    module_part, is_file, dotted, call = parse_spec(spec)
    search_dir = os.path.abspath(app_dir if app_dir is not None else os.curdir)
    _prepend_sys_path(search_dir)
    if is_file:
        module = _import_file(spec, locate_file(module_part, search_dir))
    else:
        module = _import_module(spec, module_part, search_dir)
    if dotted is None:
        dotted = next((name for name in DEFAULT_APP_NAMES if hasattr(module, name)), None)
        if dotted is None:
            raise _not_found(spec, module, module, "", DEFAULT_APP_NAMES)
    obj = _resolve(spec, module, dotted)
    label = f"{module.__name__}:{dotted}"
    if call is None and not factory:
        return _validate(spec, obj, f"{label!r} is")
    args, kwargs = call if call is not None else ((), {})
    if not callable(obj):
        raise AppNotCallable(
            f"factory {label!r} is {_describe(obj)}, not callable (APP {spec!r})\n"
            "expected a function that returns the WSGI app"
        )
    try:
        app = obj(*args, **kwargs)
    except (Exception, SystemExit) as exc:  # sys.exit("no database") is a failure to report
        raise AppFactoryError(f"factory {label!r} raised {one_line(exc)} (APP {spec!r})") from exc
    return _validate(spec, app, f"factory {label!r} returned")


def _prepend_sys_path(directory: str) -> None:
    """Put ``directory`` first so the app's modules win over installed ones; never twice, so
    repeated imports do not grow ``sys.path``."""
    if sys.path and sys.path[0] == directory:
        return
    if directory in sys.path:
        sys.path.remove(directory)
    sys.path.insert(0, directory)


def _import_file(spec: str, file_part: str) -> types.ModuleType:
    """Import a .py file under the name Python would give it: climb while the directory is a
    package, so ``proj/pkg/web.py`` is ``pkg.web`` imported from ``proj``."""
    path = os.path.abspath(file_part)
    if not os.path.isfile(path):
        raise AppModuleNotFound(f"file {path!r} not found (APP {spec!r}): {EXPECTED_FORM}")
    directory, filename = os.path.split(path)
    parts = [] if filename == "__init__.py" else [filename[: -len(".py")]]
    while True:
        parent, package = os.path.split(directory)
        if not package or not os.path.isfile(os.path.join(directory, "__init__.py")):
            break
        parts.insert(0, package)
        directory = parent
    name = ".".join(parts)
    if not parts or any(not part or "." in part for part in parts):
        raise AppImportError(f"file {path!r} cannot be imported as a module (APP {spec!r})")
    _prepend_sys_path(directory)
    module = _import_module(spec, name, directory)
    loaded = getattr(module, "__file__", None)
    if loaded is None or os.path.realpath(loaded) != os.path.realpath(path):
        raise AppImportError(
            f"file {path!r} imports as module {name!r}, but that name is already {loaded!r} "
            f"(APP {spec!r})\nrename the file, or use 'module:attr'"
        )
    return module


def _import_module(spec: str, name: str, search_dir: str) -> types.ModuleType:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Missing the module itself or a parent: our problem. Anything else: the user's import.
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            top = sys.modules.get(name.partition(".")[0])
            if top is not None:  # found no submodule in a package of the same name elsewhere
                _check_not_shadowed(spec, top, search_dir)
            raise AppModuleNotFound(
                f"module {exc.name!r} not found (APP {spec!r})\n"
                f"expected 'module:attr' with the module importable from {search_dir!r}"
            ) from None
        raise _raised_on_import(spec, name, exc) from exc
    except (Exception, SystemExit) as exc:
        raise _raised_on_import(spec, name, exc) from exc
    _check_not_shadowed(spec, module, search_dir)
    return module


def _check_not_shadowed(spec: str, module: types.ModuleType, search_dir: str) -> None:
    """``serve email`` in a project with email.py must not quietly import the standard
    library's ``email`` (already imported, so sys.path order no longer matters)."""
    top = module.__name__.partition(".")[0]
    for candidate in (os.path.join(search_dir, top + ".py"), os.path.join(search_dir, top)):
        if not os.path.exists(candidate):
            continue
        # A module has a __file__; a package also a __path__, a namespace package only that.
        loaded_module = sys.modules.get(top)
        locations = [
            getattr(loaded_module, "__file__", None),
            *getattr(loaded_module, "__path__", ()),
        ]
        real = os.path.realpath(candidate)
        if not any(_is_within(location, real) for location in locations if location):
            loaded = next((str(location) for location in locations if location), None)
            raise AppImportError(
                f"{candidate!r} imports as module {top!r}, but that name is already "
                f"{loaded or 'a built-in module'!r} (APP {spec!r})\n"
                "rename it: a module cannot shadow one that Python has already imported"
            )


def _is_within(path: str, place: str) -> bool:
    """True if ``path`` is the real path ``place`` or lies below it."""
    real = os.path.realpath(path)
    return real == place or real.startswith(place.rstrip(os.sep) + os.sep)


def _raised_on_import(spec: str, name: str, exc: BaseException) -> AppRaisedOnImport:
    summary = traceback.TracebackException.from_exception(exc)
    pending: list[traceback.TracebackException | None] = [summary]
    while pending:  # trim every link of the chain: causes and contexts are user frames too
        link = pending.pop()
        if link is not None:
            frames = [frame for frame in link.stack if not _is_internal(frame.filename)]
            link.stack = traceback.StackSummary.from_list(frames)
            pending += [link.__cause__, link.__context__]
    filename, lineno = user_location(exc)
    where = f'\n  File "{filename}", line {lineno}' if filename else ""
    return AppRaisedOnImport(
        f"importing {name!r} (APP {spec!r}) raised {one_line(exc)}{where}",
        "".join(summary.format()),
        filename,
        lineno,
    )


def user_location(exc: BaseException) -> tuple[str | None, int | None]:
    """Where the user should look: a syntax error's own place, else the innermost frame of a
    real file that is neither ours nor importlib's, preferring the user's code over libraries'."""
    if isinstance(exc, SyntaxError):
        return exc.filename, exc.lineno
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<") and not _is_internal(frame.filename)
    ]
    user = [frame for frame in frames if not _is_library(frame.filename)]
    if not (user or frames):
        return None, None
    frame = (user or frames)[-1]
    return frame.filename, frame.lineno


def _is_internal(filename: str) -> bool:
    """Frames of this package and of the import machinery, which users cannot act on."""
    if filename.startswith("<frozen importlib"):
        return True
    return os.path.abspath(filename).startswith((_HERE + os.sep, _IMPORTLIB + os.sep))


def _is_library(filename: str) -> bool:
    parts = filename.split(os.sep)
    return filename.startswith(("<", _STDLIB + os.sep)) or bool(_PACKAGE_DIRS.intersection(parts))


def _resolve(spec: str, module: types.ModuleType, dotted: str) -> object:
    obj: object = module
    done: list[str] = []
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _not_found(spec, module, obj, ".".join(done), (part,)) from None
        done.append(part)
    return obj


def _not_found(
    spec: str, module: types.ModuleType, owner: object, prefix: str, missing: tuple[str, ...]
) -> AppAttributeNotFound:
    """Name what is missing and, from what ``owner`` has, what the user probably meant."""
    where = f"module {module.__name__!r}" + (f" attribute {prefix!r}" if prefix else "")
    lead = f"{module.__name__}:{prefix + '.' if prefix else ''}"
    names = _callable_names(owner)
    close = [n for m in missing for n in difflib.get_close_matches(m, names, n=3)]
    if close:
        hint = "did you mean " + " or ".join(repr(lead + n) for n in dict.fromkeys(close)) + "?"
    elif names:
        shown = names[:MAX_LISTED_NAMES] + (["..."] if len(names) > MAX_LISTED_NAMES else [])
        hint = "available: " + ", ".join(shown)
    else:
        hint = f"it has no public callables; {EXPECTED_FORM}"
    wanted = " or ".join(repr(m) for m in missing)
    return AppAttributeNotFound(f"{where} has no attribute {wanted} (APP {spec!r})\n{hint}")


def _callable_names(owner: object) -> list[str]:
    """Public callables of ``owner``; for a module, skip functions and classes it only imported."""
    home = owner.__name__ if isinstance(owner, types.ModuleType) else None
    names = []
    for name in dir(owner):
        if name.startswith("_"):
            continue
        try:
            value = getattr(owner, name)
        except Exception:
            continue
        if not callable(value):
            continue
        routine = (type, types.FunctionType, types.BuiltinFunctionType)
        if home and isinstance(value, routine) and getattr(value, "__module__", home) != home:
            continue
        names.append(name)
    return names


def _validate(spec: str, obj: object, what: str) -> WSGIApplication:
    if isinstance(obj, types.ModuleType):
        found = [name for name in DEFAULT_APP_NAMES if hasattr(obj, name)]
        hint = f"; did you mean '{obj.__name__}:{found[0]}'?" if found else ""
        raise AppNotCallable(f"{obj.__name__!r} is a module, not a WSGI app (APP {spec!r}){hint}")
    if not callable(obj):
        raise AppNotCallable(
            f"{what} {_describe(obj)}, not callable (APP {spec!r})\n"
            "expected a WSGI app: a callable app(environ, start_response)"
        )
    if _is_factory(obj):
        raise AppNotCallable(
            f"{what} a function that takes no arguments, not a WSGI app (APP {spec!r})\n"
            "it looks like a factory: add --factory, or write the call, e.g. 'module:create_app()'"
        )
    return cast("WSGIApplication", obj)


_CO_VARARGS = 0x04  # CO_VARARGS, as inspect.CO_VARARGS


def _is_factory(obj: object) -> bool:
    """A plain function that cannot take (environ, start_response) but can take nothing:
    almost certainly an app factory named without --factory. Caught at start-up rather than
    as a 500 on every request. Read off the code object: importing inspect costs start-up."""
    function = obj.__func__ if isinstance(obj, types.MethodType) else obj
    if not isinstance(function, types.FunctionType):
        return False
    code = function.__code__
    positional = code.co_argcount - (1 if isinstance(obj, types.MethodType) else 0)
    takes_two = positional >= 2 or bool(code.co_flags & _CO_VARARGS)
    required = positional - len(function.__defaults__ or ())
    required_kw = code.co_kwonlyargcount - len(function.__kwdefaults__ or {})
    return not takes_two and required <= 0 and required_kw <= 0


def _describe(obj: object) -> str:
    return f"{type(obj).__name__} {repr(obj)[:40]}"


def one_line(exc: BaseException) -> str:
    """``ValueError: first line of the message``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
