"""The ``simplewsgi`` command: options -> :class:`ServeOptions` -> plain serving or the reloader.

Rules of this module:
- It decides what the layers below only carry out: the color (one :class:`Console`, passed
  down), and plain serving (:func:`simplewsgi.run.serve`) or the reloader
  (:func:`simplewsgi.reload.supervisor.supervise`).
- It is where the command exits (the reloader's worker, a process of its own, is the only other
  place). Every failure we expect (the APP cannot be loaded, the address cannot be bound) becomes
  an ``Error: ...`` line on stderr and a status of :mod:`simplewsgi.exits`, never a traceback of
  our frames; an unexpected exception is a bug and keeps its traceback.
- Every option is spelled once, in the option lists below, under the name of its
  :class:`ServeOptions` field, and is also read from ``SIMPLEWSGI_<NAME>`` (``--port`` ->
  ``SIMPLEWSGI_PORT``): the names are set explicitly because click's ``auto_envvar_prefix``
  would add the command name (``SIMPLEWSGI_SERVE_PORT``). And from ``[tool.simplewsgi]`` in the
  project's pyproject.toml, under its long name (:mod:`.config`): an option that takes a path
  says so with ``config_path=True`` (or a resolver such as ``config.path_after("=")`` for a
  value that holds one), so that the table's value is relative to the pyproject's directory.
- Start-up time is a feature: at import only click and our standard-library modules load; the
  importer is imported when there is an APP to import, watchdog only by the reloader.
- Every flag has its ``--no-`` form, so that the command line can undo what pyproject.toml
  (or a ``SIMPLEWSGI_*`` variable) turned on.
- There is no ``--threads``: connections are served by a pool of threads that grows with
  them and shrinks when they are idle, so there is nothing to size.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable

import click

from simplewsgi import exits, signals
from simplewsgi.cli.completion import complete_app, completion_command
from simplewsgi.cli.config import ConfigArgument, ConfigOption, ConfiguredCommand, app_path
from simplewsgi.console import Console, line_buffer_stdout
from simplewsgi.options import COLOR_CHOICES, ServeOptions
from simplewsgi.version import NAME, PYTHON_VERSION, __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

# Files whose presence makes "serve" without APP worth a hint.
PROJECT_APP_FILES = ("app.py", "wsgi.py", "main.py")
ENV_PREFIX = "SIMPLEWSGI_"
APP_ENV = ENV_PREFIX + "APP"
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_Command = Callable[..., Any]
_Decorator = Callable[[_Command], _Command]


def _option(*decls: str, **attrs: Any) -> _Decorator:
    """A click option also read from ``SIMPLEWSGI_<NAME>``, NAME from its first long flag, with
    the default of its :class:`ServeOptions` field (the one place defaults are written), and
    from pyproject.toml's table (``config_path=True``: its value there is a path)."""
    flag = next(decl for decl in decls if decl.startswith("--"))
    name = flag[2:].split("/")[0].upper().replace("-", "_")
    field = next((decl for decl in decls if not decl.startswith("-")), name.lower())
    attrs.setdefault("default", ServeOptions._field_defaults[field])
    return click.option(
        *decls, cls=ConfigOption, envvar=ENV_PREFIX + name, show_envvar=True, **attrs
    )


APP_OPTIONS: list[_Decorator] = [
    _option(
        "--factory/--no-factory",
        help="APP names a function; call it to get the app.",
    ),
    _option(
        "--app-dir",
        show_default=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False),
        config_path=True,
        help="Directory put first on sys.path to import APP from (in a project with "
        "[tool.simplewsgi]: the pyproject.toml's directory).",
    ),
]
SERVER_OPTIONS: list[_Decorator] = [
    _option(
        "--host",
        metavar="HOST",
        multiple=True,
        show_default=True,
        callback=lambda ctx, param, value: _hosts(value),
        help="Address to listen on, repeatable: 0.0.0.0 or :: for every interface, ::1 for "
        "IPv6, localhost for both 127.0.0.1 and ::1.",
    ),
    _option(
        "--port",
        "-p",
        show_default=True,
        type=click.IntRange(0, 65535),
        metavar="PORT",
        help="Port to listen on; 0 picks a free one (the banner shows it).",
    ),
    _option(
        "--uds",
        metavar="PATH",
        type=click.Path(dir_okay=False),
        config_path=True,
        help="Listen on a unix socket instead of --host/--port (removed on exit).",
    ),
    _option(
        "--fd",
        metavar="N",
        type=click.IntRange(min=0),
        help="Serve on the listening socket inherited as file descriptor N instead of "
        "--host/--port. Sockets passed by systemd (LISTEN_FDS) are used without it.",
    ),
    _option(
        "--color",
        type=click.Choice(COLOR_CHOICES),
        show_default=True,
        help="Color stderr; auto: only a terminal, NO_COLOR turns off, FORCE_COLOR turns on.",
    ),
    _option(
        "--access-log/--no-access-log",
        show_default=True,
        help="One line per request; errors are logged either way.",
    ),
    _option(
        "--timeout-header",
        type=click.FloatRange(min=0, min_open=True),
        show_default=True,
        metavar="SECONDS",
        help="A request head must arrive within this from its first byte (else 408); also how "
        "long a new connection may stay silent.",
    ),
    _option(
        "--timeout-keep-alive",
        type=click.FloatRange(min=0, min_open=True),
        show_default=True,
        metavar="SECONDS",
        help="Close a keep-alive connection idle this long.",
    ),
]
RELOAD_OPTIONS: list[_Decorator] = [
    _option(
        "--reload/--no-reload",
        help="Restart the app when its files change.",
    ),
    _option(
        "--reload-dir",
        "reload_dirs",
        multiple=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False),
        config_path=True,
        help="Directory to watch, repeatable (default: --app-dir).",
    ),
    _option(
        "--reload-include",
        multiple=True,
        metavar="GLOB",
        help="Also reload on files matching GLOB, e.g. '*.html'; repeatable.",
    ),
    _option(
        "--reload-exclude",
        multiple=True,
        metavar="GLOB",
        help="Ignore files or directories matching GLOB, e.g. 'logs/*'; repeatable.",
    ),
    _option(
        "--reload-poll/--no-reload-poll",
        help="Poll for changes (Docker, WSL, network mounts).",
    ),
]
CONFIG_OPTIONS: list[_Decorator] = [
    _option(
        "--env-file",
        "env_files",
        multiple=True,
        metavar="PATH",
        type=click.Path(exists=True, dir_okay=False),
        config_path=True,
        help="Load environment variables from this dotenv file before importing APP, again at "
        "every reload (a change to it reloads); repeatable, a later file wins; variables "
        "already set in the environment win. Needs simplewsgi[dotenv].",
    ),
]


def _hosts(values: Sequence[str]) -> tuple[str, ...]:
    """Each ``--host`` checked; one that another already covers is a mistake worth saying."""
    hosts = tuple(_host(value) for value in values)
    for wildcard, family in (("0.0.0.0", "IPv4"), ("::", "IPv4 and IPv6")):
        covered = [
            host for host in hosts if host != wildcard and (":" in host) <= (wildcard == "::")
        ]
        if wildcard in hosts and covered:
            raise click.BadParameter(
                f"{wildcard} already listens on every {family} address, {covered[0]} included: "
                f"drop --host {covered[0]}"
            )
    return hosts


def _host(value: str) -> str:
    """``[::1]`` as typed in URLs means ``::1``; ``host:port`` is two options."""
    if value.startswith("[") and value.endswith("]") and value.count("[") == value.count("]") == 1:
        return value[1:-1]
    if "[" in value or "]" in value:
        raise click.BadParameter(
            f"--host {value!r} has an unmatched or misplaced bracket: write an IPv6 address "
            "as ::1 or [::1]"
        )
    name, colon, port = value.rpartition(":")
    if colon and name.count(":") == 0 and port.isdigit():
        raise click.BadParameter(f"{value!r} includes a port: use --host {name} --port {port}")
    return value


def _app_spec(value: str | None) -> str | None:
    """A malformed APP string is a usage error, found before anything is imported or served
    (with --reload, no edit of a file could fix it)."""
    if value is not None:
        from simplewsgi.appspec import AppSpecError, parse_spec

        try:
            parse_spec(value)
        except AppSpecError as error:
            raise click.BadParameter(str(error)) from None
    return value


def _apply(decorators: Sequence[_Decorator]) -> _Decorator:
    """Apply option decorators so that ``--help`` lists them in the order written."""

    def decorate(function: _Command) -> _Command:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


def _version_message() -> str:
    return f"%(prog)s %(version)s (Python {PYTHON_VERSION}, {sys.implementation.name})"


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name=NAME, message=_version_message())
def main() -> None:
    """simplewsgi: a fast WSGI development server.

    \b
      simplewsgi serve myapp:app --reload
      simplewsgi demo --port 0
    """


@main.command("serve", cls=ConfiguredCommand)
@click.argument(
    "app",
    cls=ConfigArgument,
    required=False,
    envvar=APP_ENV,
    shell_complete=complete_app,
    callback=lambda ctx, param, value: _app_spec(value),
    config_path=app_path,
)
@_apply(APP_OPTIONS + SERVER_OPTIONS + RELOAD_OPTIONS + CONFIG_OPTIONS)
def serve_command(**params: Any) -> None:
    """Serve the WSGI app APP (default: the demo app).

    \b
    APP (also $SIMPLEWSGI_APP) is one of:
      module:attr             myapp:app, pkg.web:site.wsgi_app
      module                  tries module:app, then module:application
      module:factory(args)    myapp:create_app('dev', debug=True), literals only
      path/to/file.py[:attr]  a file, imported as a module
    A plain module:attr also works with gunicorn and waitress-serve.

    Every option, and APP, may also be set in the [tool.simplewsgi] table of the project's
    pyproject.toml (the first one found from the current directory upward), under its long
    name: app = "myapp:app", port = 9000, reload-dir = ["src"], access-log = false. Paths
    there are relative to that file. Precedence: command line, then environment
    (SIMPLEWSGI_*), then pyproject.toml, then the built-in default.
    """
    _run(ServeOptions(**params), hint=True)


def _hint_at_project_app(app_dir: str, console: Console) -> None:
    """``serve`` without APP serves the demo; say so when the project plainly has an app."""
    for name in PROJECT_APP_FILES:
        if os.path.isfile(os.path.join(app_dir, name)):
            stem = name[: -len(".py")]
            console.info(f"no APP given, so this is the demo app; for {name}: {NAME} serve {stem}")
            return


@main.command("demo", cls=ConfiguredCommand, schema=serve_command)
@_apply(SERVER_OPTIONS)
def demo_command(**params: Any) -> None:
    """Serve the demo app: hello world and the request's environ.

    Its options also come from [tool.simplewsgi] in pyproject.toml, as for serve (the keys of
    serve's other options are checked, not used); the command line and SIMPLEWSGI_* win.
    """
    _run(ServeOptions(app=None, **params))


main.add_command(completion_command)


def _check_listeners(options: ServeOptions) -> None:
    """``--uds`` and ``--fd`` each replace TCP: asking for two kinds at once is a mistake."""
    ctx = click.get_current_context()
    chosen = [flag for flag in ("--uds", "--fd") if getattr(options, flag[2:]) is not None]
    if len(chosen) > 1:
        raise click.UsageError("--uds and --fd each name the socket to serve on: give one")
    explicit = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    tcp = [f"--{name}" for name in ("host", "port") if ctx.get_parameter_source(name) in explicit]
    if chosen and tcp:
        raise click.UsageError(
            f"{chosen[0]} is served on instead of --host/--port: drop {' and '.join(tcp)}"
        )


def _run(options: ServeOptions, hint: bool = False) -> None:
    """Serve, plainly or with the reloader, then exit with the status that says how it ended."""
    _check_listeners(options)
    console = Console.decide(options.color)  # once: everything below gets the decision
    line_buffer_stdout()  # the app's print() shows at once in a pipe or a file
    if hint and options.app is None:
        _hint_at_project_app(options.app_dir, console)
    if options.env_files:  # a missing extra is a usage error, said before anything starts
        from simplewsgi.envfile import EnvFileError, check_available

        try:
            check_available()
        except EnvFileError as error:
            console.error(str(error))
            sys.exit(exits.USAGE)
    for signum in signals.STOP_SIGNALS:
        if signum != signal.SIGINT:  # SIGINT already raises KeyboardInterrupt
            signal.signal(signum, signals.stop_before_serving)
    try:
        if options.reload:  # the supervisor's process never loads run, nor the app
            from simplewsgi.reload.supervisor import supervise

            supervise(options, console)
        else:
            from simplewsgi.run import serve

            serve(options, console)
    except KeyboardInterrupt:  # Ctrl+C while the app was still importing
        _stopped_before_serving(signal.SIGINT, console)
    except signals.StoppedBeforeServing as stop:
        _stopped_before_serving(stop.signum, console)
    except signals.ForcedStop as stop:
        console.info(str(stop))
        sys.stderr.flush()
        os._exit(exits.INTERRUPTED)  # app threads must not hold the exit
    except Exception as error:
        code = _report(error, console)
        if code is None:
            raise
        sys.exit(code)
    sys.exit(exits.OK)


def _stopped_before_serving(signum: int, console: Console) -> None:
    """Say which stop signal came before serving started, and exit 128 + its number."""
    if signum == signal.SIGINT:
        console.info("interrupted before serving started")
    else:
        console.info(f"stopped by {signal.Signals(signum).name} before serving started")
    sys.exit(exits.SIGNALLED + signum)


def _report(error: Exception, console: Console) -> int | None:
    """Print an expected error as ``Error: ...``; its exit status, or None for a bug."""
    from simplewsgi.importer import AppImportError, AppRaisedOnImport
    from simplewsgi.listen import ListenError

    if isinstance(error, AppRaisedOnImport):
        # The user's traceback already shows where; the first line says what and which APP.
        sys.stderr.write(error.user_traceback)
        console.error(str(error).splitlines()[0])
        return exits.APP_ERROR
    if isinstance(error, AppImportError):
        first, *rest = str(error).splitlines()
        console.error("\n".join([first, *(f"    {line.strip()}" for line in rest)]))
        return exits.APP_ERROR
    from simplewsgi.reload.filters import WatcherError

    if isinstance(error, WatcherError):
        console.error(str(error))  # a --reload-dir/--reload-include/--reload-exclude mistake
        return exits.USAGE
    if isinstance(error, ListenError):
        console.error(error.strerror or str(error))  # str() would add "[Errno 98]"
        return exits.CANNOT_LISTEN
    return None
