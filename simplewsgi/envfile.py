"""``--env-file``: variables from dotenv files, loaded into the process that imports the app.

Rules, and why:

- Loading happens in the process that imports the app, just before it does: the plain server's
  own process, or each reloader worker (never the supervisor, whose environment every new
  worker starts from). So every reload reads the files again, and a variable removed from a
  file is gone from the next worker.
- The files act as one file made of them in order: a later file overrides an earlier one, and
  a ``${VAR}`` reference sees the latest definition before it. The process's own environment
  wins over every file (python-dotenv's ``override=False``, as uvicorn and flask do), so
  ``DEBUG=0 simplewsgi serve --env-file .env`` overrides one variable for one run; a reference
  to a variable of the environment sees the environment's value.
- Parsing and interpolation are python-dotenv's (the ``dotenv`` extra), imported only when
  there are files to load: a worker without ``--env-file`` never imports it. A line it cannot
  parse is skipped and reported as ``file:line``, never fatal, as python-dotenv does.
- A file that cannot be read, is larger than :data:`MAX_SIZE` or defines a variable holding a
  NUL byte (which no environment can hold) is an :class:`EnvFileError` naming it (an
  ``AppImportError``: the app cannot be loaded as asked; the reloader keeps the previous
  worker, and the CLI checks before serving that the files exist and are files, or a pipe
  without --reload).

Standard library only at import; floor 1, beside the importer that it runs before.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Callable, Optional

from simplewsgi.appspec import AppImportError

if TYPE_CHECKING:
    from collections.abc import Sequence

EXTRA = "dotenv"
# An env file holds a few variables; past this it is not one (a log, /dev/zero, an endless pipe).
MAX_SIZE = 1 << 20
MISSING_EXTRA = (
    f"--env-file needs python-dotenv, an optional extra: pip install 'simplewsgi[{EXTRA}]'"
)


class EnvFileError(AppImportError):
    """An env file cannot be read, or python-dotenv is missing; the message says which."""


def check_available() -> None:
    """Raise :class:`EnvFileError` if python-dotenv cannot be imported (the CLI asks before
    serving, so that a missing extra is a usage error, not a worker failure)."""
    try:
        import dotenv  # noqa: F401
    except ImportError:
        raise EnvFileError(MISSING_EXTRA) from None


def load(paths: Sequence[str], warn: Optional[Callable[[str], None]] = None) -> dict[str, str]:
    """Load ``paths`` into ``os.environ`` (see the module's rules); the variables set.
    ``warn`` gets one ``file:line: ...`` message per line python-dotenv could not parse."""
    if not paths:
        return {}
    try:
        from dotenv.main import resolve_variables
        from dotenv.parser import parse_stream
    except ImportError:
        raise EnvFileError(MISSING_EXTRA) from None
    bindings: list[tuple[str, Optional[str]]] = []
    where: dict[str, str] = {}  # name -> "file:line" of its last definition, for errors
    for path in paths:
        for binding in parse_stream(io.StringIO(_read(path), newline=None)):
            if binding.error:
                if warn is not None:
                    warn(f"{path}:{binding.original.line}: cannot parse this line of "
                         "the env file; skipped it")  # fmt: skip
            elif binding.key is not None:
                bindings.append((binding.key, binding.value))
                where[binding.key] = f"{path}:{binding.original.line}"
    loaded: dict[str, str] = {}
    for key, value in resolve_variables(bindings, override=False).items():
        if value is not None and key not in os.environ:
            if "\0" in key or "\0" in value:  # os.environ would raise ValueError
                raise EnvFileError(
                    f"cannot read env file {where[key]}: {key!r} holds a NUL byte, which "
                    "no environment variable can hold"
                )
            loaded[key] = value
    os.environ.update(loaded)
    return loaded


def _read(path: str) -> str:
    """The text of the env file ``path``, at most :data:`MAX_SIZE` bytes of it."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_SIZE + 1)
        # utf-8-sig: a byte order mark (Notepad writes one) must not become part of a name
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise EnvFileError(f"cannot read env file {path!r}: {reason or error}") from None
    if len(data) > MAX_SIZE:
        raise EnvFileError(f"cannot read env file {path!r}: larger than 1 MiB")
    return text
