"""``[tool.simplewsgi]`` in the project's ``pyproject.toml``: defaults for the command's options.

Rules, and why:

- The file is the first ``pyproject.toml`` found from the current directory upward, and the
  search stops there whether or not it has the table: a ``pyproject.toml`` marks a project, and
  a nested project (a package of a monorepo, a vendored one) must not silently serve the
  enclosing project's app on its port. (pytest and black stop there too; ruff skips a file
  without its table and keeps looking.)
- Precedence is the command line, then ``SIMPLEWSGI_*``, then the table, then the built-in
  default: the table is click's ``default_map``, which click consults in exactly that order.
  ``serve`` reads every key; ``demo`` reads the keys of the options it has (``port``,
  ``host``, ``color``...), as it reads their ``SIMPLEWSGI_*`` variables, and ignores the rest.
- Keys are the long option names as typed (``app-dir``, ``timeout-keep-alive``, ``access-log =
  false``) and ``app`` for APP; one spelling only, so that a table never holds the same option
  twice: ``app_dir`` or ``no-access-log`` is an unknown key whose error names the spelling to
  use. The whole table is checked, every time, whatever the command line overrides.
- A value must have the TOML type of what the option takes (a boolean for a flag, an integer
  or number for one that takes a number, a string otherwise; an array of those for a
  repeatable option, where one string also stands for an array of one), and then passes
  through the option's own click type and callback, so the rules are spelled once. Any
  mistake, including TOML's own, is one :class:`ConfigError` naming the file and the key (or
  the line), exit 2. A broken table does not stop ``--help``.
- Paths are relative to the directory holding ``pyproject.toml``, not to the current one (the
  command may run from a subdirectory). An option says that it takes a path with
  ``config_path`` (``_option(..., config_path=True)`` in ``commands.py``, or a function
  ``(value, base_dir) -> value`` for a value that holds a path, as :func:`path_after` and
  :func:`app_path` do). Inside a project with a table, the same holds for the built-in default
  of such an option: ``app-dir`` defaults to the project's directory, so ``simplewsgi serve``
  from ``project/templates/`` imports and watches the project.
- Start-up cost: without a table nothing is parsed. The raw bytes are searched for a line that
  could define the table (:func:`may_define_table`: a ``[tool.simplewsgi...]`` header, a
  ``tool.simplewsgi`` dotted key, a ``simplewsgi`` key under ``[tool]``, or an inline ``tool``
  table); a file that depends on simplewsgi, or has a ``simplewsgi`` script or package-data
  key, does not match. Only then is ``tomllib`` (``tomli`` before Python 3.11) imported.
  (A key spelled with escapes, ``"simplewsg\u0069"``, or a ``[tool]`` hidden from the check
  by a header-like line inside a multi-line string, is not seen: nobody writes those.)
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import click

from simplewsgi import exits

if TYPE_CHECKING:
    from collections.abc import Sequence

PYPROJECT = "pyproject.toml"
TABLE = "[tool.simplewsgi]"
# Lines that may define ``[tool.simplewsgi]`` (keys may be quoted, and dotted with spaces around
# the dots, as TOML allows): a header, a dotted key from the root, or an inline ``tool`` table.
# Patterns, compiled (and cached by re) on first use: compiling them all costs 0.6 ms, and most
# start-ups never need them.
_DEFINES_TABLE = rb"""(?mx)
    ^[ \t]*\[\[?[ \t]*(["']?)tool\1[ \t]*\.[ \t]*(["']?)simplewsgi\2[ \t]*[.\]]   # a header
    | ^[ \t]*(["']?)tool\3[ \t]*\.[ \t]*(["']?)simplewsgi\4[ \t]*[.=]             # tool.simplewsgi
    | ^[ \t]*(["']?)tool\5[ \t]*=[ \t]*\{                                        # tool = {...}
    """
# A ``simplewsgi`` key (``simplewsgi.port = 1``, ``simplewsgi = {...}``): the table only under
# ``[tool]``, while ``[project.scripts]`` or ``[tool.setuptools.package-data]`` may have one.
# Both in one pattern, so that one pass sees each key after the header it is under.
_HEADER_OR_KEY = rb"""(?m)^[ \t]*(?:\[(?P<header>[^\]\n]*)\]|(["']?)simplewsgi\2[ \t]*[.=])"""
BOM = b"\xef\xbb\xbf"

# ctx.meta key: parameter name -> (file, key), for the built-in defaults made relative to it.
_PROJECT_DEFAULTS = "simplewsgi.project_defaults"
#: How a value from the table that holds a path is made relative to the file's directory.
Resolver = Callable[[str, str], str]


class ConfigError(click.ClickException):
    """The project's configuration is unreadable or wrong: ``Error: <file>: ...``, exit 2."""

    exit_code = exits.USAGE


def relative_to(value: str, base: str) -> str:
    """``value``, a path (``~`` expanded), relative to the directory ``base``."""
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def path_after(separator: str) -> Resolver:
    """For values like ``/prefix=DIR``: the part after the first ``separator`` is a path (the
    whole value when there is none)."""

    def resolve(value: str, base: str) -> str:
        head, sep, tail = value.partition(separator)
        return head + sep + relative_to(tail, base) if sep else relative_to(value, base)

    return resolve


def app_path(value: str, base: str) -> str:
    """APP: a file APP (``src/app.py:app``) is a path; a module name is not."""
    from simplewsgi.appspec import AppSpecError, parse_spec

    try:
        spec = parse_spec(value)
    except AppSpecError:
        return value  # the option's callback says what is wrong with it
    if not spec.is_file:
        return value
    return relative_to(spec.module, base) + value.strip()[len(spec.module) :]


def _resolver(config_path: Union[bool, Resolver, None]) -> Optional[Resolver]:
    return relative_to if config_path is True else (config_path or None)


class ConfigOption(click.Option):
    """A click option that may say it takes a path (``config_path``, see the module's rules)."""

    def __init__(self, *args: Any, config_path: Union[bool, Resolver] = False, **attrs: Any):
        super().__init__(*args, **attrs)
        self.config_path = _resolver(config_path)


class ConfigArgument(click.Argument):
    """A click argument that may say it takes a path, as :class:`ConfigOption`."""

    def __init__(self, *args: Any, config_path: Union[bool, Resolver] = False, **attrs: Any):
        super().__init__(*args, **attrs)
        self.config_path = _resolver(config_path)


class ConfiguredCommand(click.Command):
    """A command whose defaults come from ``[tool.simplewsgi]``; its keys are those of
    ``schema`` (default: this command), of which it takes the ones it has."""

    def __init__(self, *args: Any, schema: Optional[click.Command] = None, **attrs: Any):
        super().__init__(*args, **attrs)
        self.schema = schema

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        error: Optional[ConfigError] = None
        if ctx.default_map is None:  # a caller's (CliRunner, a parent group) wins
            try:
                ctx.default_map = project_defaults(self, ctx)
            except ConfigError as exc:
                error = exc  # after parsing: --help still works
        try:
            rest = super().parse_args(ctx, args)
        except click.BadParameter as exc:
            raise _blame_the_project(ctx, exc) from None
        if error is not None and not ctx.resilient_parsing:  # completion goes on without it
            raise error
        return rest


def find_pyproject(start: str) -> Optional[str]:
    """The first ``pyproject.toml`` in ``start`` or above it, or None."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, PYPROJECT)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def read_table(path: str) -> Optional[dict[str, Any]]:
    """The ``[tool.simplewsgi]`` table of the file ``path``, or None when it has none."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror or error}") from None
    if data.startswith(BOM):  # Notepad writes one, TOML allows none: both checks skip it
        data = data[len(BOM) :]
    if not may_define_table(data):
        return None
    if sys.version_info >= (3, 11):
        import tomllib  # novermin: guarded by the version check
    else:
        import tomli as tomllib
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    tool = document.get("tool")
    table = tool.get("simplewsgi") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {TABLE} must be a table, got {_toml_type(table)}")
    return table


def may_define_table(data: bytes) -> bool:
    """False when the TOML text ``data`` cannot define ``[tool.simplewsgi]`` (without parsing
    it: the check must cost next to nothing in a project that has no table)."""
    if b"simplewsgi" not in data:  # most files: a plain substring search, ~10 us per 100 KB
        return False
    if re.search(_DEFINES_TABLE, data):
        return True
    under_tool = False  # the root table (before any header) is not [tool]
    for match in re.finditer(_HEADER_OR_KEY, data):
        header = match.group("header")
        if header is not None:
            under_tool = header.strip(b" \t[]").strip(b"\"'") == b"tool"
        elif under_tool:  # a simplewsgi key under [tool]
            return True
    return False


def project_defaults(command: click.Command, ctx: click.Context) -> Optional[dict[str, Any]]:
    """The ``default_map`` for ``command`` from the project's table, or None without one."""
    try:
        start = os.getcwd()
    except OSError:  # the current directory was removed
        return None
    path = find_pyproject(start)
    table = read_table(path) if path is not None else None
    if path is None or table is None:
        return None
    schema = getattr(command, "schema", None) or command
    values = table_values(schema, ctx, path, table)
    own = {param.name for param in command.params}
    return {name: value for name, value in values.items() if name in own}


def config_key(param: click.Parameter) -> str:
    """The key of ``param`` in the table: its first long option name, or an argument's name."""
    if isinstance(param, click.Option):
        long = next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
        return long.lstrip("-")
    return param.name or ""


def config_params(command: click.Command) -> dict[str, click.Parameter]:
    """Key -> parameter, for every parameter of ``command`` that the table may set."""
    return {config_key(param): param for param in command.params if param.expose_value}


def expected_type(param: click.Parameter) -> tuple[tuple[type, ...], str]:
    """The TOML value types one value of ``param`` may have, and their name."""
    kind = param.type
    declared: Optional[tuple[tuple[type, ...], str]] = getattr(kind, "toml_types", None)
    if declared is not None:  # a type of ours that says what it takes (--port: 9000 or "auto")
        return declared
    if (isinstance(param, click.Option) and param.is_flag) or isinstance(
        kind, click.types.BoolParamType
    ):
        return (bool,), "true or false"
    if isinstance(kind, click.types.IntParamType):
        return (int,), "an integer"
    if isinstance(kind, click.types.FloatParamType):
        return (int, float), "a number"
    return (str,), "a string"


def describe_type(param: click.Parameter) -> str:
    """What the table takes for ``param``, in words (for errors and the man page)."""
    _, name = expected_type(param)
    if not _repeatable(param):
        return name
    if name == "a string":
        return "an array of strings (or one string)"
    return "an array of " + {"an integer": "integers", "a number": "numbers"}.get(name, name)


def table_values(
    command: click.Command, ctx: click.Context, path: str, table: dict[str, Any]
) -> dict[str, Any]:
    """Parameter name -> value, for every key of ``table`` (checked) and for the relative
    built-in defaults of the path options (made relative to the file's directory)."""
    params = config_params(command)
    base = os.path.dirname(os.path.abspath(path))
    values: dict[str, Any] = {}
    for key, raw in table.items():
        param = params.get(key)
        if param is None or param.name is None:
            hint = _unknown_key_hint(key, params)
            raise ConfigError(f"{path}: {TABLE} has no key {key!r}: {hint}")
        value = _typed_value(param, raw, f"{path}: {TABLE} {key}")
        resolver: Optional[Resolver] = getattr(param, "config_path", None)
        if resolver is not None and isinstance(value, list):
            value = [resolver(item, base) for item in value]
        elif resolver is not None:
            value = resolver(value, base)
        try:
            param.process_value(ctx, value)  # the option's own type and callback
        except click.UsageError as error:  # BadParameter, or what a callback raises
            raise ConfigError(f"{path}: {TABLE} {key}: {error.message}") from None
        values[param.name] = value
    for param in params.values():  # built-in relative paths: relative to the project too
        resolver = getattr(param, "config_path", None)
        default = param.default
        if (
            param.name is not None
            and param.name not in values
            and resolver is not None
            and isinstance(default, str)
            and not os.path.isabs(default)
        ):
            values[param.name] = resolver(default, base)
            ctx.meta.setdefault(_PROJECT_DEFAULTS, {})[param.name] = (path, config_key(param))
    return values


def _blame_the_project(ctx: click.Context, error: click.BadParameter) -> click.ClickException:
    """``error``, or, if the value was a built-in default made relative to the project (the
    user typed nothing), an error that says so rather than naming the option."""
    name = error.param.name if error.param is not None else None
    where = ctx.meta.get(_PROJECT_DEFAULTS, {}).get(name)
    if name is None or where is None:
        return error
    if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT_MAP:
        return error
    path, key = where
    return ConfigError(f"{path}: {key} defaults to the directory of this file: {error.message}")


def _repeatable(param: click.Parameter) -> bool:
    return param.multiple or param.nargs == -1


def _typed_value(param: click.Parameter, raw: Any, where: str) -> Any:
    """``raw`` if its TOML type is what ``param`` takes (a list for a repeatable option)."""
    types, _ = expected_type(param)

    # A type of ours may take only some strings (--port: "auto", not "8000").
    strings: Optional[tuple[str, ...]] = getattr(param.type, "toml_strings", None)

    def fits(value: Any) -> bool:
        if isinstance(value, str) and strings is not None:
            return value in strings
        return isinstance(value, types) and (bool in types or not isinstance(value, bool))

    if _repeatable(param):
        if isinstance(raw, str) and str in types:
            return [raw]
        if isinstance(raw, list) and all(fits(item) for item in raw):
            return raw
    elif fits(raw):
        return raw
    got = f"{_toml_type(raw)} ({_toml_text(raw)})"
    if isinstance(raw, list) and _repeatable(param):
        wrong = next(item for item in raw if not fits(item))
        got = f"an array holding {_toml_type(wrong)} ({_toml_text(wrong)})"
    raise ConfigError(f"{where}: expected {describe_type(param)}, got {got}")


def _toml_text(value: Any) -> str:
    """``value`` as TOML writes it (roughly: for error messages)."""
    import json  # an error path only

    try:
        return json.dumps(value, ensure_ascii=False)  # true, "8000", [1, 2], {"a": 1}
    except TypeError:  # a date or time
        return str(value)


def _toml_type(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a float"),
                       (str, "a string"), (list, "an array"), (dict, "a table")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return "a date or time"


def _unknown_key_hint(key: str, params: dict[str, click.Parameter]) -> str:
    dashed = key.replace("_", "-")
    if dashed != key and dashed in params:
        return f"write it as on the command line, {dashed!r}"
    if dashed.startswith("no-") and dashed[3:] in params:
        return f"write {dashed[3:]} = false"
    import difflib

    close = difflib.get_close_matches(dashed, list(params), n=1, cutoff=0.7)
    if close:
        return f"did you mean {close[0]!r}?"
    return "the keys are the long option names: " + ", ".join(params)


def documented_keys(command: click.Command) -> Sequence[tuple[str, str]]:
    """(key, what it takes) for every key of the table, in the order of ``--help``."""
    keys = []
    for key, param in config_params(command).items():
        text = describe_type(param)
        if isinstance(param.type, click.Choice):
            text += ": " + ", ".join(f'"{choice}"' for choice in param.type.choices)
        resolver = getattr(param, "config_path", None)
        if resolver is relative_to:
            text += (
                ", relative to the file" if "array" not in text else ", each relative to the file"
            )
        elif resolver is not None:
            text += "; a path in it is relative to the file"
        keys.append((key, text))
    return keys
