"""Shell completion: the scripts, the ``completion`` command, and APP candidates from a static scan.

Rules of this module:
- The scripts are click's (``click.shell_completion``), so they call back into ``simplewsgi`` with
  ``_SIMPLEWSGI_COMPLETE=<shell>_complete`` and every candidate comes from the live command tree.
  :mod:`simplewsgi.cli.shells` pins each script and its wire format, so the checked-in scripts work
  with any click; when that variable is set, importing this module makes click use them.
- ``simplewsgi completion SHELL`` prints exactly the text that ``scripts/gen_docs.py`` checks in
  under ``completions/``: both come from :func:`completion_script`.
- The APP scanner (:func:`find_app_candidates`) only reads files: it never imports user code,
  never raises, and is bounded (``SCAN_MAX_FILES``, ``SCAN_MAX_BYTES``), because it runs on every
  TAB press.
- Only the CLI imports this module, at start-up: it imports nothing click has not loaded already;
  ``click.shell_completion`` is imported only to complete or to print a script.
"""

from __future__ import annotations

import ast
import os
import warnings
from typing import TYPE_CHECKING

import click

from simplewsgi.reload.filters import VENV_MARKER
from simplewsgi.version import NAME

if TYPE_CHECKING:
    from collections.abc import Iterator

    from click.shell_completion import CompletionItem

PROG_NAME = NAME  # the command completed, and the prefix of click's variable below
COMPLETE_VAR = "_SIMPLEWSGI_COMPLETE"  # what click would derive from PROG_NAME; spelled for docs
SHELLS = ("bash", "zsh", "fish")

SCAN_MAX_FILES = 200  # completion must answer in milliseconds even in a large checkout
SCAN_MAX_BYTES = 1 << 20  # 1 MiB: bigger .py files are generated code or data, not app modules
SCAN_SKIP_DIRS = frozenset({"__pycache__", "site-packages", "node_modules"})  # and venvs, hidden

if COMPLETE_VAR in os.environ:  # a shell is asking for candidates: answer in our scripts' format
    from simplewsgi.cli import shells

    shells.register()


def completion_script(cli: click.Command, shell: str) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`) for the command tree ``cli``."""
    from simplewsgi.cli import shells

    if shell not in shells.CLASSES:
        raise ValueError(f"unsupported shell {shell!r}: expected one of {', '.join(SHELLS)}")
    return shells.CLASSES[shell](cli, {}, PROG_NAME, COMPLETE_VAR).source()


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_command(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
      eval "$(simplewsgi completion bash)"     # in ~/.bashrc
      eval "$(simplewsgi completion zsh)"      # in ~/.zshrc, after compinit
      simplewsgi completion fish > ~/.config/fish/completions/simplewsgi.fish
    """
    root = click.get_current_context().find_root().command
    click.echo(completion_script(root, shell), nl=False)


def complete_app(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:  # type: ignore[type-arg, unused-ignore]
    """``shell_complete`` for APP: ``module`` and ``module:attr`` strings found in the app
    directory (``--app-dir`` when given, else the current directory) that start with
    ``incomplete``; a path (``incomplete`` with a ``/``) is left to the shell's file completion."""
    from click.shell_completion import CompletionItem

    if "/" in incomplete or os.sep in incomplete:
        return [CompletionItem(incomplete, type="file")]
    app_dir = ctx.params.get("app_dir")
    directory = app_dir if isinstance(app_dir, str) and app_dir else os.curdir
    return [
        CompletionItem(candidate)
        for candidate in find_app_candidates(directory)
        if candidate.startswith(incomplete)
    ]


def find_app_candidates(directory: str) -> list[str]:
    """APP strings that probably work from ``directory``, for shell completion.

    A static scan (never imports user code, never raises) of ``*.py`` there and in packages one
    level down, returning e.g. ``app``, ``app:app``, ``app:create_app``, ``pkg.web:application``.
    """
    from simplewsgi.importer import DEFAULT_APP_NAMES  # here: start-up does not pay for it

    found: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # users' SyntaxWarnings are not ours to report
        for count, (module, path) in enumerate(_scan_targets(directory)):
            if count >= SCAN_MAX_FILES:
                break
            names = _app_names(path)
            found.update(f"{module}:{name}" for name in names)
            if any(name in DEFAULT_APP_NAMES for name in names):
                found.add(module)
    return sorted(found)


def _scan_targets(directory: str) -> Iterator[tuple[str, str]]:
    """(module name, path) for top-level modules first, then modules of top-level packages."""
    packages = []
    for entry in _entries(directory):
        if entry.name.endswith(".py") and entry.name[:-3].isidentifier():
            yield entry.name[:-3], entry.path
        elif (
            entry.name.isidentifier()
            and entry.name not in SCAN_SKIP_DIRS
            and entry.is_dir()
            and not os.path.exists(os.path.join(entry.path, VENV_MARKER))
        ):
            packages.append(entry)  # a package, or a namespace package (PEP 420)
    for package in packages:
        for entry in _entries(package.path):
            stem = entry.name[:-3]
            if entry.name.endswith(".py") and stem.isidentifier():
                yield (package.name if stem == "__init__" else f"{package.name}.{stem}"), entry.path


def _entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:
        return []


def _app_names(path: str) -> list[str]:
    """Module-level names that look like WSGI apps or app factories."""
    try:
        if os.path.getsize(path) > SCAN_MAX_BYTES or not os.path.isfile(path):
            return []
        with open(path, "rb") as file:
            tree = ast.parse(file.read(), path)
    except (OSError, SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names += [node.name] if _is_app_name(node.name, function=True) else []
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name) and _is_app_name(t.id)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
            names += [target.id] if isinstance(target, ast.Name) and _is_app_name(target.id) else []
        elif isinstance(node, ast.ImportFrom):
            imported = (alias.asname or alias.name for alias in node.names)
            names += [name for name in imported if _is_app_name(name, function=True)]
    return names


def _is_app_name(name: str, *, function: bool = False) -> bool:
    """``app``, ``application``, ``api``, ``*app``; for functions also ``create_*``/``make_*``."""
    if name.startswith("_"):
        return False
    if name in ("application", "api") or name.endswith("app"):
        return True
    return function and name.startswith(("create_", "make_"))
