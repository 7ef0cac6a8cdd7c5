"""The options of ``serve`` and ``demo``, each spelled once, and the checks of their values.

Rules of this module:
- Every option is written under the name of its :class:`ServeOptions` field, with that
  field's default, and is also read from ``SIMPLEWSGI_<NAME>`` (``--port`` ->
  ``SIMPLEWSGI_PORT``): the names are set explicitly because click's ``auto_envvar_prefix``
  would add the command name (``SIMPLEWSGI_SERVE_PORT``). And from ``[tool.simplewsgi]`` in the
  project's pyproject.toml, under its long name (:mod:`.config`): an option that takes a path
  says so with ``config_path=True`` (or a resolver such as ``config.path_after("=")`` for a
  value that holds one), so that the table's value is relative to the pyproject's directory.
- Every flag has its ``--no-`` form, so that the command line can undo what pyproject.toml
  (or a ``SIMPLEWSGI_*`` variable) turned on.
- A value is checked here, by the option's callback, so that a mistake is a usage error
  before anything is imported or served; the module that uses a value is imported only when
  the option is given (start-up time).
- There is no ``--threads``: connections are served by a pool of threads that grows with
  them and shrinks when they are idle, so there is nothing to size.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Callable

import click

from simplewsgi.cli.config import ConfigOption, path_after
from simplewsgi.options import AUTO_PORT, COLOR_CHOICES, ServeOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from click.shell_completion import CompletionItem

ENV_PREFIX = "SIMPLEWSGI_"
APP_ENV = ENV_PREFIX + "APP"

_Command = Callable[..., Any]
Decorator = Callable[[_Command], _Command]
AUTO = "auto"  # --port auto


class PortType(click.ParamType):  # type: ignore[type-arg, unused-ignore]  # generic in click 8.2+
    """A TCP port, 0 to 65535, or ``auto`` (:data:`~simplewsgi.options.AUTO_PORT`)."""

    name = "port"
    # What [tool.simplewsgi] takes for it (cli.config.expected_type): port = 9000 or "auto".
    toml_types = ((int, str), 'an integer or "auto"')
    toml_strings = (AUTO,)  # "8000" stays a mistake there, as for every integer option

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, str) and value.strip().lower() == AUTO:
            return AUTO_PORT
        try:
            if isinstance(value, (bool, float)):
                raise ValueError(value)
            number = int(value)
        except (TypeError, ValueError):
            self.fail(
                f"{value!r} is not a port: give a number from 0 to 65535, or auto", param, ctx
            )
        if not 0 <= number <= 65535:
            self.fail(f"{number} is not in the range 0<=x<=65535", param, ctx)
        return number

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(AUTO)] if AUTO.startswith(incomplete.lower()) else []


# The longest timeout: a day is already "never" for a development server; past it (inf, 1e400)
# the socket calls overflow.
MAX_TIMEOUT = 86400.0


class Seconds(click.FloatRange):
    """A timeout: a finite number of seconds, above 0, at most a day. click's FloatRange lets
    nan through (every comparison with it is false), and a server cannot wait nan seconds."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True, max=MAX_TIMEOUT)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value} is not a number", param, ctx)
        return seconds


def _option(*decls: str, **attrs: Any) -> Decorator:
    """A click option also read from ``SIMPLEWSGI_<NAME>``, NAME from its first long flag, with
    the default of its :class:`ServeOptions` field (the one place defaults are written), and
    from pyproject.toml's table (``config_path=True``: its value there is a path)."""
    flag = next(decl for decl in decls if decl.startswith("--"))
    name = flag[2:].split("/")[0].upper().replace("-", "_")
    field = next((decl for decl in decls if not decl.startswith("-")), name.lower())
    attrs.setdefault("default", ServeOptions._field_defaults[field])
    if attrs.get("multiple"):  # click splits a path option's variable as PATH, others on spaces
        separator = "':'" if isinstance(attrs.get("type"), click.Path) else "spaces"
        attrs["help"] += f" The variable separates values with {separator}."
    return click.option(
        *decls, cls=ConfigOption, envvar=ENV_PREFIX + name, show_envvar=True, **attrs
    )


APP_OPTIONS: list[Decorator] = [
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
SERVER_OPTIONS: list[Decorator] = [
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
        type=PortType(),
        metavar="PORT",
        help="Port to listen on; 0 picks a free one, auto the default port if free, else the "
        "next free one up (the banner shows it). On a terminal, a port in use is answered "
        "with an offer of the next free one.",
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
        type=Seconds(),
        show_default=True,
        metavar="SECONDS",
        help="A request head must arrive within this from its first byte (else 408); also how "
        "long a new connection may stay silent.",
    ),
    _option(
        "--timeout-keep-alive",
        type=Seconds(),
        show_default=True,
        metavar="SECONDS",
        help="Close a keep-alive connection idle this long.",
    ),
]
TLS_OPTIONS: list[Decorator] = [
    _option(
        "--certfile",
        metavar="FILE",
        type=click.Path(exists=True, dir_okay=False),
        config_path=True,
        help="Serve HTTPS with this certificate (PEM, the chain after it; the key too unless "
        "--keyfile).",
    ),
    _option(
        "--keyfile",
        metavar="FILE",
        type=click.Path(exists=True, dir_okay=False),
        config_path=True,
        help="The certificate's private key (PEM).",
    ),
    _option(
        "--keyfile-password",
        metavar="TEXT",
        help="Password of an encrypted key; prefer the variable, as other users can read "
        "command lines.",
    ),
    _option(
        "--tls-self-signed/--no-tls-self-signed",
        help="Serve HTTPS with a certificate made for localhost, 127.0.0.1 and ::1, kept in the "
        "user's cache directory and reused (needs simplewsgi[tls]).",
    ),
]
RELOAD_OPTIONS: list[Decorator] = [
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
    _option(
        "--live/--no-live",
        help="Implies --reload. Open pages refresh by themselves once the new version serves, "
        "swap changed stylesheets in place, and show the error page while the code is broken.",
    ),
    _option(
        "--live-include",
        multiple=True,
        metavar="GLOB",
        show_default=True,
        help="With --live: files that refresh the pages without restarting the app (in the "
        "watched and --static directories; a file --reload-include matches restarts it); "
        "repeatable, replaces the default.",
    ),
]
CONFIG_OPTIONS: list[Decorator] = [
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
MIDDLEWARE_OPTIONS: list[Decorator] = [
    _option(
        "--static",
        multiple=True,
        metavar="/PREFIX=DIR",
        config_path=path_after("="),
        callback=lambda ctx, param, value: _static(value),
        help="Serve the files in DIR at /PREFIX, in front of the app (GET and HEAD; what is "
        "not a file goes to the app); repeatable. A relative DIR is from the current directory "
        "(in pyproject.toml, from the file's directory).",
    ),
    _option(
        "--root-path",
        metavar="/PREFIX",
        callback=lambda ctx, param, value: _root_path(value),
        help="The app is mounted at /PREFIX: SCRIPT_NAME says so, and /PREFIX is taken off "
        "PATH_INFO when the request has it.",
    ),
    _option(
        "--proxy-headers/--no-proxy-headers",
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
DEBUG_OPTIONS: list[Decorator] = [
    _option(
        "--debug/--no-debug",
        help="An exception in the app answers a browser with a page showing the traceback, "
        "local variables and the request (plain text to other clients); loopback clients "
        "only, see --debug-allow-ips. The terminal shows simplewsgi's own frames too.",
    ),
    _option(
        "--debug-allow-ips",
        metavar="LIST",
        callback=lambda ctx, param, value: _debug_allow_ips(value),
        help="Clients besides loopback and unix-socket ones that may see an error's details "
        "(the --debug page, the reloader's error page), --forwarded-allow-ips' syntax; "
        "others get a plain 500.",
    ),
]
LINT_OPTIONS: list[Decorator] = [
    _option(
        "--lint/--no-lint",
        help="Check the app against PEP 3333 (WSGI) and say what it does wrong, once per rule "
        "and route, as warnings; requests are answered as without it.",
    ),
]
TERMINAL_OPTIONS: list[Decorator] = [
    _option(
        "--keys/--no-keys",
        show_default=True,
        help="Keyboard shortcuts when stdin is a terminal: r restart (with --reload), o open "
        "the browser, c clear, l access log on/off, q quit, h help.",
    ),
    _option(
        "--open/--no-open",
        help="Open the server's URL in the browser once it serves (not again on reloads); "
        "BROWSER picks the browser.",
    ),
]

# serve's options in --help order; demo serves no APP, so it takes only the server's.
SERVE_OPTIONS = (
    APP_OPTIONS
    + SERVER_OPTIONS
    + TLS_OPTIONS
    + RELOAD_OPTIONS
    + MIDDLEWARE_OPTIONS
    + CONFIG_OPTIONS
    + DEBUG_OPTIONS
    + LINT_OPTIONS
    + TERMINAL_OPTIONS
)
DEMO_OPTIONS = SERVER_OPTIONS + TLS_OPTIONS + TERMINAL_OPTIONS


def _hosts(values: Sequence[str]) -> tuple[str, ...]:
    if not values:  # host = [] in the table, or SIMPLEWSGI_HOST=" "
        raise click.BadParameter("needs at least one address to listen on")
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


def check_app_spec(value: str | None) -> str | None:
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
    return _peers(value)


def _debug_allow_ips(value: str) -> str:
    return _peers(value) if value.strip() else ""


def _peers(value: str) -> str:
    """A list of peers (--forwarded-allow-ips' syntax) checked and normalized."""
    from simplewsgi.middleware.proxy import TrustError, normalize

    try:
        return normalize(value)
    except TrustError as error:
        raise click.BadParameter(str(error)) from None


def apply_options(decorators: Sequence[Decorator]) -> Decorator:
    """Apply option decorators so that ``--help`` lists them in the order written."""

    def decorate(function: _Command) -> _Command:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate
