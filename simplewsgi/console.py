"""What the command line shows: the color decision, access lines, the banner, messages.

Rules of this module:
- Everything goes to stderr; stdout stays free for the app's own output.
- It is the only module that imports colorama, and only on Windows when color is on (to make the
  console understand ANSI); elsewhere the escape codes below are written directly.
- Redirected output never holds an escape code unless asked: ``auto`` colors only a terminal,
  ``NO_COLOR`` (no-color.org) turns color off, ``FORCE_COLOR`` (force-color.org) turns it on, and
  ``--color always|never`` overrides both.
- Access lines are written straight to ``sys.stderr``, never through :mod:`logging`: an app that
  configures logging itself must not see our lines twice.
- :meth:`AccessLogHandler.log_request` runs once per request: one f-string, one write.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from simplewsgi.handler import CONTROL_CHAR_ESCAPES, WSGIRequestHandler
from simplewsgi.version import __version__

if TYPE_CHECKING:
    from simplewsgi.options import ServeOptions

NO_COLOR_ENV = "NO_COLOR"
FORCE_COLOR_ENV = "FORCE_COLOR"

# ANSI SGR sequences (ECMA-48); colorama's Fore/Style constants are these same strings.
RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
CYAN = "\x1b[36m"
# Status class (code // 100) -> color: 2xx green, 3xx cyan, 4xx yellow, 5xx red.
STATUS_COLORS = {1: DIM, 2: GREEN, 3: CYAN, 4: YELLOW, 5: RED}
# Message kind -> (prefix, color).
PREFIXES = {"info": ("Info:", CYAN), "warn": ("Warning:", YELLOW), "error": ("Error:", RED)}

DEMO_LABEL = "demo app"
QUIT_HINT = "Press Ctrl+C to quit"
PRODUCTION_HINT = (
    "{host} is reachable from other machines; this is a development server, "
    "in production use gunicorn or waitress"
)
LOOPBACK_NAMES = ("localhost", "::1")
# connect() on a UDP socket sends nothing: it only asks the routing table which local address
# would be used. These are documentation/private addresses, never contacted.
_ROUTE_PROBES = {socket.AF_INET: "10.255.255.255", socket.AF_INET6: "fd00::1"}
_WILDCARDS = {"": socket.AF_INET, "0.0.0.0": socket.AF_INET, "::": socket.AF_INET6}

_message_color: bool | None = None  # None: decide from the environment at first use
_windows_fixed = False


def use_color(choice: str, stream: IO[str] | None) -> bool:
    """Whether to color ``stream``: ``always``/``never`` win, then ``NO_COLOR``, then
    ``FORCE_COLOR``, then ``auto`` means "stream is a terminal" (and ``TERM`` is not dumb)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get(NO_COLOR_ENV):
        return False
    if os.environ.get(FORCE_COLOR_ENV):
        return True
    if stream is None or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def configure(choice: str) -> bool:
    """Decide color for stderr once (``auto``, ``always``, ``never``); returns the decision.

    :func:`info`, :func:`warn` and :func:`error` use it; so do the banner and access lines.
    """
    global _message_color
    _message_color = use_color(choice, sys.stderr)
    if _message_color:
        _enable_windows_ansi()
    return _message_color


def _colored() -> bool:
    if _message_color is None:
        return configure("auto")
    return _message_color


def _enable_windows_ansi() -> None:
    global _windows_fixed
    if sys.platform == "win32" and not _windows_fixed:
        import colorama

        colorama.just_fix_windows_console()
        _windows_fixed = True


def _paint(text: str, color: str, on: bool) -> str:
    return f"{color}{text}{RESET}" if on else text


def _message(kind: str, msg: str) -> None:
    prefix, color = PREFIXES[kind]
    sys.stderr.write(f"{_paint(prefix, color + BOLD, _colored())} {msg}\n")
    sys.stderr.flush()


def info(msg: str) -> None:
    """One informational line on stderr (``Info: msg``)."""
    _message("info", msg)


def warn(msg: str) -> None:
    """One warning line on stderr (``Warning: msg``)."""
    _message("warn", msg)


def error(msg: str) -> None:
    """One error line on stderr (``Error: msg``); ``msg`` may carry a second, indented line."""
    _message("error", msg)


class AccessLogHandler(WSGIRequestHandler):
    """Writes ``127.0.0.1 GET /path?q HTTP/1.1 200 13 B 0.4 ms`` per request.

    Configured through class attributes (see :func:`handler_class`): ``color`` paints the status
    by class; without ``access_log`` only server errors (5xx) and messages are written.
    """

    color = False
    access_log = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code if type(code) is int else _as_int(code)
        if not self.access_log and status < 500:
            return
        elapsed = (time.perf_counter() - self.request_start) * 1000.0
        duration = f"{elapsed:.1f} ms" if elapsed < 1000.0 else f"{elapsed / 1000.0:.2f} s"
        amount = _size(size)
        target = self.path if self.path.isascii() else self.path.translate(CONTROL_CHAR_ESCAPES)
        address = self.client_address[0] if isinstance(self.client_address, tuple) else "-"
        if self.color:
            painted = STATUS_COLORS.get(status // 100, "")
            line = (
                f"{DIM}{address}{RESET} {BOLD}{self.command} {target}{RESET} "
                f"{self.request_version} {painted}{status}{RESET} {amount} {DIM}{duration}{RESET}\n"
            )
        else:
            line = (
                f"{address} {self.command} {target} {self.request_version} "
                f"{status} {amount} {duration}\n"
            )
        sys.stderr.write(line)

    def log_message(self, format: str, *args: Any) -> None:
        """Protocol errors and disconnects: always written, access log or not."""
        message = (format % args).translate(CONTROL_CHAR_ESCAPES)
        address = self.address_string()
        if self.color:
            sys.stderr.write(f"{DIM}{address}{RESET} {YELLOW}{message}{RESET}\n")
        else:
            sys.stderr.write(f"{address} {message}\n")


def _as_int(code: int | str) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return 0


def _size(size: int | str) -> str:
    if type(size) is not int:
        return "- B"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def handler_class(options: ServeOptions) -> type[WSGIRequestHandler]:
    """The request handler class the CLI serves with, per ``options.color``/``access_log``.

    Also sets the color decision for :func:`info`, :func:`warn` and :func:`error`.
    """
    colored = configure(options.color)
    attrs = {"color": colored, "access_log": options.access_log}
    return type("AccessLogHandler", (AccessLogHandler,), attrs)


def server_urls(host: str, port: int) -> list[str]:
    """Clickable URLs: the local one first; for a wildcard host also this machine's LAN URL."""
    family = _WILDCARDS.get(host)
    if family is None:
        return [_url(host, port)]
    urls = [_url("::1" if family == socket.AF_INET6 else "127.0.0.1", port)]
    lan = lan_address(family) or (lan_address(socket.AF_INET) if host == "::" else None)
    if lan is not None:
        urls.append(_url(lan, port))
    return urls


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def lan_address(family: socket.AddressFamily) -> str | None:
    """This machine's address on its default route, without sending a packet; None if none."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((_ROUTE_PROBES[family], 9))
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    if is_loopback(address) or address.startswith("fe80:"):
        return None
    return address


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def print_banner(options: ServeOptions, address: Any, reloader: str | None = None) -> None:
    """The start-up lines: version, what is served, URLs, reloader backend, how to quit.

    ``address`` is the bound ``(host, port)`` (the real port when 0 was asked); ``reloader``
    names the active file-watching backend when reloading.
    """
    on = configure(options.color)
    host, port = str(address[0]), int(address[1])
    served = options.app if options.app is not None else DEMO_LABEL
    if options.factory:
        served += " (factory)"
    python = ".".join(str(part) for part in sys.version_info[:3])
    lines = [f"{_paint('simplewsgi ' + __version__, BOLD, on)} serving {served} (Python {python})"]
    urls = server_urls(options.host or host, port)
    rows = [("Local:", urls[0])] + [("Network:", url) for url in urls[1:]]
    lines += [f"  {label:<9}{_paint(url, CYAN, on)}" for label, url in rows]
    if reloader:
        lines.append(f"  {'Reload:':<9}{reloader}")
    if not is_loopback(options.host or host):
        prefix, color = PREFIXES["warn"]
        hint = PRODUCTION_HINT.format(host=options.host or "0.0.0.0")
        lines.append(f"{_paint(prefix, color + BOLD, on)} {hint}")
    lines.append(QUIT_HINT)
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def print_goodbye() -> None:
    """The last line after a graceful stop."""
    info("stopped, goodbye")
