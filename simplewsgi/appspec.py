"""APP strings: their form, checked without importing anything, and where a file APP lives.

``module:attr`` (dotted on both sides), ``module`` alone, ``path/to/file.py[:attr]``, and a
factory call with literal arguments, ``module:create_app('dev', debug=True)``. The string is
never evaluated: call arguments are parsed with :mod:`ast` and must be literals.

Standard library only, and nothing of the user's is imported here: the CLI checks the string
before it serves (a malformed one is a usage error), and the reloader's supervisor, which never
loads the app, reads from it which directory a file APP is in. Loading is
:mod:`simplewsgi.importer`'s job; its errors derive from :class:`AppImportError`, defined here.
"""

from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

if TYPE_CHECKING:
    _FactoryArgs = tuple[tuple[Any, ...], dict[str, Any]]  # positional and keyword literals

EXPECTED_FORM = "expected 'module:attr' (or 'module', 'file.py[:attr]', 'module:factory(args)')"


class AppImportError(Exception):
    """Base: the APP string could not be turned into an app. ``str(e)`` is one or two readable
    lines naming the value received and the form expected."""


class AppSpecError(AppImportError):
    """The APP string itself is malformed (a usage error): nothing was imported, and no edit of
    a file can fix it. Raised by :func:`parse_spec`, before any import."""


class AppFactorySyntaxError(AppSpecError):
    """The factory call is malformed or has non-literal arguments (which are never evaluated)."""


class AppSpec(NamedTuple):
    """An APP string, checked and split (see :func:`parse_spec`)."""

    module: str  # a dotted module name, or a path to a .py file
    is_file: bool
    attr: Optional[str]  # dotted attribute; None: try DEFAULT_APP_NAMES
    call: Optional[_FactoryArgs]  # the literal arguments of a factory call in the string


def parse_spec(spec: str) -> AppSpec:
    """Check the form of the APP string ``spec`` without importing anything (raises
    :class:`AppSpecError`): the CLI calls it to refuse a malformed string as a usage error."""
    module_part, attr_part = _split_spec(spec.strip())
    if not module_part or (attr_part is not None and not attr_part.strip()):
        raise AppSpecError(f"invalid APP {spec!r}: {EXPECTED_FORM}")
    is_file = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if is_file and not module_part.endswith(".py"):
        raise AppSpecError(f"{module_part!r} in APP {spec!r} is not a .py file: {EXPECTED_FORM}")
    if not is_file and not all(part.isidentifier() for part in module_part.split(".")):
        raise AppSpecError(f"bad module name {module_part!r} in APP {spec!r}: {EXPECTED_FORM}")
    dotted, call = (None, None) if attr_part is None else _parse_attr(spec, attr_part)
    return AppSpec(module_part, is_file, dotted, call)


def locate_file(path: str, app_dir: str) -> str:
    """A file APP's path: relative to the current directory if it is there, else to
    ``app_dir`` (``--app-dir src app.py``)."""
    in_app_dir = os.path.join(app_dir, path)
    if not os.path.isfile(path) and os.path.isfile(in_app_dir):
        return in_app_dir
    return path


def _split_spec(spec: str) -> tuple[str, str | None]:
    """Split on the last ':' before any '(' so call arguments may contain ':' themselves."""
    paren = spec.find("(")
    colon = (spec if paren < 0 else spec[:paren]).rfind(":")
    return (spec, None) if colon < 0 else (spec[:colon], spec[colon + 1 :])


def _parse_attr(spec: str, text: str) -> tuple[str, _FactoryArgs | None]:
    """Return the dotted attribute and, for a factory call, its literal arguments."""
    is_call = "(" in text
    kind = AppFactorySyntaxError if is_call else AppSpecError
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        raise kind(f"cannot parse {text!r} in APP {spec!r}: {EXPECTED_FORM}") from None
    call = None
    if isinstance(node, ast.Call):
        call = _literal_args(spec, node)
        node = node.func
    dotted = _dotted_name(node)
    if dotted is None:
        raise kind(f"{text!r} in APP {spec!r} is not a dotted name or a call: {EXPECTED_FORM}")
    return dotted, call


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _literal_args(spec: str, call: ast.Call) -> _FactoryArgs:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            raise AppFactorySyntaxError(f"'*' arguments are not allowed in APP {spec!r}")
        args.append(_literal(spec, arg))
    for keyword in call.keywords:
        if keyword.arg is None:
            raise AppFactorySyntaxError(f"'**' arguments are not allowed in APP {spec!r}")
        if keyword.arg in kwargs:
            raise AppFactorySyntaxError(f"keyword {keyword.arg!r} repeated in APP {spec!r}")
        kwargs[keyword.arg] = _literal(spec, keyword.value)
    return tuple(args), kwargs


def _literal(spec: str, node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise AppFactorySyntaxError(
            f"factory argument {ast.unparse(node)!r} in APP {spec!r} is not a literal\n"
            "expected literals only, e.g. create_app('dev', debug=True); nothing is evaluated"
        ) from None
