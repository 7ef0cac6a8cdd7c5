"""A port in use, rescued: ``--port auto``, and on a terminal the offer of the next free port.

Rules of this module:
- ``--port auto`` is settled here, before anything serves: the default port if it is free,
  else the next free one up (:data:`AUTO_SPAN` of them), else any free port; the banner says
  which and why. Plain serving and the reloader's workers only ever get a real port.
- A port is free when it can be bound on every address the server will listen on
  (``listen.first_free_port`` binds them all, as serving will): with ``--host localhost``
  the port offered is free on 127.0.0.1 and on ::1.
- The question ("Use 8001 instead? [Y/n]", one key) is asked only when stdin and stderr are a
  terminal and this process is in its foreground: elsewhere (a pipe, CI, a service, a
  background job) a port in use stays the one ``Error:`` line and exit status 4 it was.
  It is asked before anything starts: plain serving binds before importing the app, and the
  reloader's supervisor before it spawns a worker.
- A holder that is an earlier simplewsgi of the same project (started in the same directory,
  or serving the same APP) is named as such, with how to stop it: its supervisor's PID, since
  a reloader's workers hold the socket too. Read from ``/proc`` (Linux); elsewhere nothing is
  said rather than guessed.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Optional

import click

from simplewsgi.listen import activated_count, first_free_port
from simplewsgi.options import AUTO_PORT, ServeOptions
from simplewsgi.version import NAME

if TYPE_CHECKING:
    from collections.abc import Sequence

    from simplewsgi.console import Console
    from simplewsgi.listen import AddressInUseError

AUTO_SPAN = 100  # --port auto: the default port and the next 99, then any free port
OFFER_SPAN = 100  # the offer: the next free port among the 100 after the one in use
MAX_PORT = 65535
YES_KEYS = ("y", "Y", "\r", "\n")
WORKER_MARK = "simplewsgi.reload.worker"  # in a reloader worker's command line (BOOTSTRAP)


def settle_auto(options: ServeOptions, console: Console) -> ServeOptions:
    """``options`` with ``--port auto`` replaced by the port to serve on (0: any free one);
    unchanged for any other port."""
    if options.port != AUTO_PORT:
        return options
    default: int = ServeOptions._field_defaults["port"]
    if not _serves_tcp(options):  # --uds, --fd, socket activation: no port to choose
        return options._replace(port=default)
    last = min(default + AUTO_SPAN, MAX_PORT + 1)
    port = first_free_port(options.host, range(default, last))
    if port != default:
        holder = _holder_words(options.host, default, options)
        if port is not None:
            note = f"{port} (--port auto: {default} is in use{holder})"
        else:
            note = f"any free one (--port auto: {default} to {last - 1} are in use)"
        console.banner_notes.append(("Port:", note))
    return options._replace(port=port if port is not None else 0)


def can_offer(options: ServeOptions, error: AddressInUseError) -> bool:
    """Whether to offer another port for ``error`` (see the module's rules)."""
    return bool(error.port) and _serves_tcp(options) and _interactive()


def offer(options: ServeOptions, error: AddressInUseError, console: Console) -> Optional[int]:
    """Say why the port is taken (and by whom), then offer the next free one: the port to serve
    on, or None (declined, or none free)."""
    assert error.port is not None and error.host is not None
    last = min(error.port + OFFER_SPAN, MAX_PORT)
    free = first_free_port(options.host, range(error.port + 1, last + 1))
    console.error(error.strerror or str(error))
    earlier = earlier_server(error.host, error.port, options)
    if earlier is not None:
        pid, why = earlier
        console.info(
            f"PID {pid} is an earlier {NAME} for this project ({why}); stop it with: kill {pid}"
        )
    if free is None:
        if error.port < last:  # past 65535 there is nothing to look at
            console.info(f"no port is free from {error.port + 1} to {last} either")
        return None
    return free if _ask(f"Use port {free} instead? [Y/n] ") else None


def _serves_tcp(options: ServeOptions) -> bool:
    return options.uds is None and options.fd is None and activated_count() is None


def _interactive() -> bool:
    """stdin and stderr are a terminal, and we are its foreground process group (a background
    job reading it would be stopped by SIGTTIN)."""
    try:
        import termios  # noqa: F401 - POSIX: the question needs it
    except ImportError:
        return False
    try:
        if not (sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()):
            return False
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:  # a terminal, but not our controlling one: no job control to fear
        return True


def _ask(question: str) -> bool:
    """One key: y or Enter is yes, anything else no. The terminal reads keys unechoed from
    before the question is written (a key typed at once is not lost: the switch keeps what
    was typed) and gets its mode back on every way out; Ctrl+C stays a SIGINT, which stops
    the command as before serving."""
    import termios

    from simplewsgi.console import write_stderr

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    keys = termios.tcgetattr(fd)
    keys[3] &= ~(termios.ICANON | termios.ECHO)
    keys[6][termios.VMIN], keys[6][termios.VTIME] = 1, 0
    try:
        termios.tcsetattr(fd, termios.TCSADRAIN, keys)
        write_stderr(question)
        key = os.read(fd, 32)[:1].decode("latin-1")  # b"" (end of file) is a no
    except KeyboardInterrupt:
        write_stderr("\n")
        raise
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    yes = key in YES_KEYS
    write_stderr(("y" if yes else "n") + "\n")
    return yes


def _holder_words(hosts: Sequence[str], port: int, options: ServeOptions) -> str:
    """`` by PID 12 (...)`` for the banner, or how to stop an earlier server of ours."""
    from simplewsgi.listen import expand_hosts
    from simplewsgi.portholder import socket_holder

    for host in expand_hosts(hosts):
        earlier = earlier_server(host, port, options)
        if earlier is not None:
            pid, _ = earlier
            return f" by an earlier {NAME} for this project (stop it with: kill {pid})"
        holder = socket_holder(host, port)
        if holder is not None:
            return f" by {holder}"
    return ""


def earlier_server(host: str, port: int, options: ServeOptions) -> Optional[tuple[int, str]]:
    """The PID of the simplewsgi holding ``host:port`` if it serves this project, and why we
    think so; None for anything else (or where /proc cannot say)."""
    from simplewsgi.portholder import process, socket_holder_pid

    pid = socket_holder_pid(host, port)
    found = process(pid) if pid is not None else None
    if found is not None and any(WORKER_MARK in arg for arg in found.argv) and found.ppid:
        found = process(found.ppid)  # a reloader's worker: its supervisor is the server
    if found is None:
        return None
    args = _simplewsgi_args(found.argv)
    if args is None:
        return None
    here = os.getcwd()
    if found.cwd is not None and _same_path(found.cwd, here):
        return found.pid, "started in this directory"
    app, app_dir = _app_of(args)
    if found.cwd is not None and app is not None and options.app is not None:
        theirs = _app_identity(app, app_dir, found.cwd)
        if theirs is not None and theirs == _app_identity(options.app, options.app_dir, here):
            return found.pid, f"serving the same APP, {options.app}"
    return None


def _simplewsgi_args(argv: list[str]) -> Optional[list[str]]:
    """The arguments after ``simplewsgi`` (``python -m simplewsgi ...`` or the console
    script); None if ``argv`` is not a simplewsgi command."""
    for index, arg in enumerate(argv):
        if (arg == "-m" and argv[index + 1 : index + 2] == [NAME]) or arg == f"-m{NAME}":
            return argv[index + (2 if arg == "-m" else 1) :]
        if os.path.basename(arg) in (NAME, f"{NAME}.exe"):
            return argv[index + 1 :]
    return None


def _app_of(args: list[str]) -> tuple[Optional[str], str]:
    """The APP and ``--app-dir`` of a ``serve`` command line (None for ``demo``, or an APP
    given by a variable or pyproject.toml, which the command line does not show)."""
    if not args or args[0] != "serve":
        return None, "."
    group = click.get_current_context().find_root().command
    serve = group.commands.get("serve") if isinstance(group, click.Group) else None
    taking = set()  # the spellings of options that take a value
    for param in serve.params if serve is not None else ():
        if isinstance(param, click.Option) and not param.is_flag and not param.count:
            taking.update(param.opts)
    app, app_dir, rest = None, ".", iter(args[1:])
    for arg in rest:
        if arg == "--":
            app = next(rest, None) if app is None else app
            break
        if arg in taking:
            value = next(rest, "")
            app_dir = value if arg == "--app-dir" else app_dir
        elif arg.startswith("--app-dir="):
            app_dir = arg.partition("=")[2]
        elif not arg.startswith("-") and app is None:
            app = arg
    return app, app_dir


def _app_identity(app: str, app_dir: str, cwd: str) -> Optional[str]:
    """What an APP string means from ``cwd``: a file's real path, or the real import
    directory and the string."""
    from simplewsgi.appspec import AppSpecError, parse_spec

    try:
        spec = parse_spec(app)
    except AppSpecError:
        return None
    if spec.is_file:
        return os.path.realpath(os.path.join(cwd, spec.module))
    return f"{os.path.realpath(os.path.join(cwd, app_dir))}:{app.strip()}"


def _same_path(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False
