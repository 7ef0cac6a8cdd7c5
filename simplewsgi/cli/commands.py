"""The ``simplewsgi`` command: options -> :class:`ServeOptions` -> plain serving or the reloader.

Rules of this module:
- It decides what the layers below only carry out: the color (one :class:`Console`, passed
  down), and plain serving (:func:`simplewsgi.run.serve`) or the reloader
  (:func:`simplewsgi.reload.supervisor.supervise`).
- It is where the command exits (the reloader's worker, a process of its own, is the only other
  place). Every failure we expect (the APP cannot be loaded, the address cannot be bound) becomes
  an ``Error: ...`` line on stderr and a status of :mod:`simplewsgi.exits`, never a traceback of
  our frames; an unexpected exception is a bug and keeps its traceback.
- The options themselves, their defaults, variables and checks are in :mod:`.params`.
- Start-up time is a feature: at import only click and our standard-library modules load; the
  importer is imported when there is an APP to import, watchdog only by the reloader.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Optional

import click

from simplewsgi import exits, signals
from simplewsgi.cli.completion import complete_app, completion_command
from simplewsgi.cli.config import ConfigArgument, ConfiguredCommand, app_path
from simplewsgi.cli.params import (
    APP_ENV,
    DEMO_OPTIONS,
    ENV_PREFIX,
    SERVE_OPTIONS,
    apply_options,
    check_app_spec,
)
from simplewsgi.console import Console, line_buffer_stdout
from simplewsgi.options import ServeOptions
from simplewsgi.version import NAME, PYTHON_VERSION, __version__

# Files whose presence makes "serve" without APP worth a hint.
PROJECT_APP_FILES = ("app.py", "wsgi.py", "main.py")
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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
    callback=lambda ctx, param, value: check_app_spec(value),
    config_path=app_path,
)
@apply_options(SERVE_OPTIONS)
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
@apply_options(DEMO_OPTIONS)
def demo_command(**params: Any) -> None:
    """Serve the demo app: hello world and the request's environ.

    Its options also come from [tool.simplewsgi] in pyproject.toml, as for serve (the keys of
    serve's other options are checked, not used); the command line and SIMPLEWSGI_* win.
    """
    _run(ServeOptions(app=None, **params))


main.add_command(completion_command)


LISTENER_OPTIONS = ("uds", "fd", "host", "port")


def _check_listeners(options: ServeOptions) -> ServeOptions:
    """Each of socket activation, ``--fd`` and ``--uds`` replaces TCP on --host/--port. Which
    one is served follows the precedence of every option: the highest level (command line,
    environment, pyproject.toml) that names a listener decides, and what a lower level says
    about another kind is dropped. Two kinds at the deciding level are a mistake, said before
    anything is opened, naming them as the user wrote them. The options to serve."""
    from simplewsgi.listen import activated_count

    ctx = click.get_current_context()
    source = click.core.ParameterSource
    rank: dict[Optional[click.core.ParameterSource], int] = {
        source.COMMANDLINE: 3, source.ENVIRONMENT: 2, source.DEFAULT_MAP: 1
    }  # fmt: skip
    level = {name: rank.get(ctx.get_parameter_source(name), 0) for name in LISTENER_OPTIONS}

    def spelled(name: str) -> str:
        """Option ``name`` as the user set it: the flag, the variable, or the table's key."""
        return {
            3: f"--{name}",
            2: f"${ENV_PREFIX}{name.upper()}",
            1: f"{name} in pyproject.toml",
        }[level[name]]

    no_socket = options._replace(uds=None, fd=None)
    if activated_count() is not None:
        others = [spelled(name) for name in LISTENER_OPTIONS if level[name] >= 2]
        if others:
            raise click.UsageError(
                "sockets were passed by socket activation (LISTEN_FDS) and are served instead; "
                f"drop {' and '.join(others)}"
            )
        return no_socket  # the table's listeners too: the activation is served
    top = max(level.values())
    deciding = [name for name in LISTENER_OPTIONS if top and level[name] == top]
    sockets = [name for name in deciding if name in ("uds", "fd")]
    tcp = [spelled(name) for name in deciding if name in ("host", "port")]
    if len(sockets) > 1:
        raise click.UsageError(
            f"{spelled('uds')} and {spelled('fd')} each name the socket to serve on: give one"
        )
    if sockets and tcp:
        raise click.UsageError(
            f"{spelled(sockets[0])} is served on instead of --host/--port: drop {' and '.join(tcp)}"
        )
    if sockets == ["uds"]:  # the other kind of socket, if a lower level named one, is not served
        return options._replace(fd=None)
    if sockets:
        return options._replace(uds=None)
    return no_socket if tcp else options


def _check_env_files(options: ServeOptions) -> None:
    """An env file is a file, or a pipe (``--env-file <(pass show dev)``) read once: a device
    would be read without end, and the reloader reads the files again at every reload."""
    import stat

    for path in options.env_files:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # said when it is read, as when it is removed while serving
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            if options.reload:
                raise click.UsageError(
                    f"env file {path} is a pipe, which cannot be read again at each reload: "
                    "give a file"
                )
        elif not stat.S_ISREG(mode):
            raise click.UsageError(f"env file {path} is not a file: give a file")


def _run(options: ServeOptions, hint: bool = False) -> None:
    """Serve, plainly or with the reloader, then exit with the status that says how it ended."""
    options = _check_listeners(options)
    if options.live:
        options = options._replace(reload=True)
    if options.reload:
        try:
            os.getcwd()  # the reloader's paths are absolute, made from it; workers start there
        except OSError:
            raise click.UsageError(
                "the current directory was removed, and the reloader needs it: cd to a "
                "directory that exists"
            ) from None
    console = Console.decide(options.color)  # once: everything below gets the decision
    line_buffer_stdout()  # the app's print() shows at once in a pipe or a file
    if hint and options.app is None:
        _hint_at_project_app(options.app_dir, console)
    if not options.proxy_headers and (
        options.forwarded_allow_ips != ServeOptions._field_defaults["forwarded_allow_ips"]
    ):
        console.warn("--forwarded-allow-ips has no effect without --proxy-headers")
    if options.env_files:  # a missing extra is a usage error, said before anything starts
        _check_env_files(options)
        from simplewsgi.envfile import EnvFileError, check_available

        try:
            check_available()
        except EnvFileError as error:
            console.error(str(error))
            sys.exit(exits.USAGE)
    for signum in signals.HEEDED_SIGNALS:
        if signum != signal.SIGINT:  # SIGINT already raises KeyboardInterrupt
            signal.signal(signum, signals.stop_before_serving)
    try:
        options = _prepare_tls(options, console)
        _serve(options, console)
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


def _serve(options: ServeOptions, console: Console) -> None:
    """Serve plainly or with the reloader, on the port ``--port auto`` settles; a port in use
    offers another on a terminal (:mod:`.portrescue`), before anything started."""
    from simplewsgi.listen import AddressInUseError  # loaded by run and the supervisor anyway
    from simplewsgi.options import AUTO_PORT

    if options.port == AUTO_PORT:
        from simplewsgi.cli.portrescue import settle_auto

        options = settle_auto(options, console)
    try:
        _serve_on(options, console)
    except AddressInUseError as error:
        from simplewsgi.cli.portrescue import can_offer, offer

        if not can_offer(options, error):
            raise
        port = offer(options, error, console)  # the error is said, and a port offered
        if port is None:
            sys.exit(exits.CANNOT_LISTEN)
        _serve_on(options._replace(port=port), console)


def _serve_on(options: ServeOptions, console: Console) -> None:
    if options.reload:  # the supervisor's process never loads run, nor the app
        from simplewsgi.reload.supervisor import supervise

        supervise(options, console)
    else:
        from simplewsgi.run import serve

        serve(options, console)


def _prepare_tls(options: ServeOptions, console: Console) -> ServeOptions:
    """Check the TLS options together, make or reuse the self-signed certificate, and load
    the files once: a mistake is one error before anything listens."""
    tls = (options.certfile, options.keyfile, options.keyfile_password, options.tls_self_signed)
    if not any(tls):
        return options
    # The app, its subprocesses and the reloader's workers need not see the password.
    os.environ.pop(ENV_PREFIX + "KEYFILE_PASSWORD", None)
    if options.tls_self_signed and (options.certfile or options.keyfile):
        raise click.UsageError("--tls-self-signed makes its own certificate: drop --certfile")
    for value, flag in (
        (options.keyfile, "--keyfile"),
        (options.keyfile_password, "--keyfile-password"),
    ):
        if value and not options.certfile:
            raise click.UsageError(f"{flag} needs --certfile, the certificate its key goes with")
    from simplewsgi.certificates import prepare

    options, news = prepare(options)
    if news:
        console.info(news)
    return options


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
    from simplewsgi.certificates import CertificateError, MissingExtra
    from simplewsgi.http.errors import TLSConfigError

    if isinstance(error, (MissingExtra, CertificateError, TLSConfigError)):
        hint = " with --keyfile-password" if str(error).endswith("give its password") else ""
        console.error(f"{error}{hint}")
        return exits.USAGE
    if isinstance(error, ListenError):
        console.error(error.strerror or str(error))  # str() would add "[Errno 98]"
        return exits.CANNOT_LISTEN
    return None
