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
  would add the command name (``SIMPLEWSGI_SERVE_PORT``).
- Start-up time is a feature: at import only click and our standard-library modules load; the
  importer is imported when there is an APP to import, watchdog only by the reloader.
- There is no ``--threads``: connections are served by a pool of threads that grows with
  them and shrinks when they are idle, so there is nothing to size.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from simplewsgi import exits, signals
from simplewsgi.cli.completion import complete_app, completion_command
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
    the default of its :class:`ServeOptions` field (the one place defaults are written)."""
    flag = next(decl for decl in decls if decl.startswith("--"))
    name = flag[2:].split("/")[0].upper().replace("-", "_")
    field = next((decl for decl in decls if not decl.startswith("-")), name.lower())
    attrs.setdefault("default", ServeOptions._field_defaults[field])
    return click.option(*decls, envvar=ENV_PREFIX + name, show_envvar=True, **attrs)


APP_OPTIONS: list[_Decorator] = [
    _option("--factory", is_flag=True, help="APP names a function; call it to get the app."),
    _option(
        "--app-dir",
        show_default=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False),
        help="Directory put first on sys.path to import APP from.",
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
        help="Listen on a unix socket instead of --host/--port (removed on exit).",
    ),
    _option(
        "--fd",
        metavar="N",
        type=click.IntRange(min=0, max=2**31 - 1),
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
    _option("--reload", is_flag=True, help="Restart the app when its files change."),
    _option(
        "--reload-dir",
        "reload_dirs",
        multiple=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False),
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
    _option("--reload-poll", is_flag=True, help="Poll for changes (Docker, WSL, network mounts)."),
]
MIDDLEWARE_OPTIONS: list[_Decorator] = [
    _option(
        "--static",
        multiple=True,
        metavar="/PREFIX=DIR",
        callback=lambda ctx, param, value: _static(value),
        help="Serve the files in DIR at /PREFIX, in front of the app (GET and HEAD; what is "
        "not a file goes to the app); repeatable. A relative DIR is from the current directory.",
    ),
    _option(
        "--root-path",
        metavar="/PREFIX",
        callback=lambda ctx, param, value: _root_path(value),
        help="The app is mounted at /PREFIX: SCRIPT_NAME says so, and /PREFIX is taken off "
        "PATH_INFO when the request has it.",
    ),
    _option(
        "--proxy-headers",
        is_flag=True,
        help="Take the client's address, scheme, host and prefix from X-Forwarded-For, -Proto, "
        "-Host, -Prefix and Forwarded, when a trusted proxy sends them.",
    ),
    _option(
        "--forwarded-allow-ips",
        metavar="LIST",
        show_default=True,
        callback=lambda ctx, param, value: _allow_ips(value),
        help="Peers --proxy-headers trusts, comma-separated: IP addresses, networks "
        "(10.0.0.0/8), 'unix' (a unix-socket peer), '*' (any).",
    ),
]


def _hosts(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(_host(value) for value in values)


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


def _static(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each ``/PREFIX=DIR`` checked and its DIR made absolute, before anything is served."""
    if not values:
        return values
    from simplewsgi.middleware.static import StaticSpecError, parse_mount

    base = os.getcwd()
    try:
        return tuple(str(parse_mount(value, base)) for value in values)
    except StaticSpecError as error:
        raise click.BadParameter(str(error)) from None


def _root_path(value: str) -> str:
    if not value:
        return value
    from simplewsgi.middleware.prefix import PrefixError, url_prefix

    try:
        return url_prefix(value)
    except PrefixError as error:
        raise click.BadParameter(str(error)) from None


def _allow_ips(value: str) -> str:
    if value == ServeOptions._field_defaults["forwarded_allow_ips"]:
        return value  # the default needs no check (nor the ipaddress module)
    from simplewsgi.middleware.proxy import TrustError, normalize

    try:
        return normalize(value)
    except TrustError as error:
        raise click.BadParameter(str(error)) from None


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


@main.command("serve")
@click.argument(
    "app",
    required=False,
    envvar=APP_ENV,
    shell_complete=complete_app,
    callback=lambda ctx, param, value: _app_spec(value),
)
@_apply(APP_OPTIONS + SERVER_OPTIONS + RELOAD_OPTIONS + MIDDLEWARE_OPTIONS)
def serve_command(**params: Any) -> None:
    """Serve the WSGI app APP (default: the demo app).

    \b
    APP (also $SIMPLEWSGI_APP) is one of:
      module:attr             myapp:app, pkg.web:site.wsgi_app
      module                  tries module:app, then module:application
      module:factory(args)    myapp:create_app('dev', debug=True), literals only
      path/to/file.py[:attr]  a file, imported as a module
    A plain module:attr also works with gunicorn and waitress-serve.
    """
    _run(ServeOptions(**params), hint=True)


def _hint_at_project_app(app_dir: str, console: Console) -> None:
    """``serve`` without APP serves the demo; say so when the project plainly has an app."""
    for name in PROJECT_APP_FILES:
        if os.path.isfile(os.path.join(app_dir, name)):
            stem = name[: -len(".py")]
            console.info(f"no APP given, so this is the demo app; for {name}: {NAME} serve {stem}")
            return


@main.command("demo")
@_apply(SERVER_OPTIONS)
def demo_command(**params: Any) -> None:
    """Serve the demo app: hello world and the request's environ."""
    _run(ServeOptions(app=None, **params))


main.add_command(completion_command)


def _check_listeners(options: ServeOptions) -> None:
    """Each of socket activation, ``--fd`` and ``--uds`` replaces TCP on --host/--port: asking
    for two kinds at once is a mistake, said before anything is opened."""
    from simplewsgi.listen import activated_count

    ctx = click.get_current_context()
    source = click.core.ParameterSource

    def given(name: str) -> Optional[str]:
        """How the user set option ``name``: the flag, or the variable; None if not set."""
        how = ctx.get_parameter_source(name)
        if how == source.ENVIRONMENT:
            return f"${ENV_PREFIX}{name.upper()}"
        return f"--{name}" if how == source.COMMANDLINE else None

    explicit = {name: given(name) for name in ("uds", "fd", "host", "port")}
    chosen = [f"--{name}" for name in ("uds", "fd") if getattr(options, name) is not None]
    if activated_count() is not None:
        others = [flag for flag in explicit.values() if flag]
        if others:
            raise click.UsageError(
                "sockets were passed by socket activation (LISTEN_FDS) and are served instead; "
                f"drop {' and '.join(others)}"
            )
        return
    if len(chosen) > 1:
        raise click.UsageError("--uds and --fd each name the socket to serve on: give one")
    tcp = [flag for name, flag in explicit.items() if name in ("host", "port") and flag]
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
    if not options.proxy_headers and (
        options.forwarded_allow_ips != ServeOptions._field_defaults["forwarded_allow_ips"]
    ):
        console.warn("--forwarded-allow-ips has no effect without --proxy-headers")
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
