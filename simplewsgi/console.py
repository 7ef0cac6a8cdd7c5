"""What the server says on the terminal: the color decision, messages, the banner.

Rules of this module:
- Everything goes to stderr; stdout stays free for the app's own output.
- Color is decided once, by the CLI, into a :class:`Console` that is passed down; nothing reads
  a module global. Redirected output never holds an escape code unless asked: ``auto`` colors
  only a terminal, ``NO_COLOR`` (no-color.org) turns color off, ``FORCE_COLOR``
  (force-color.org) turns it on, and ``--color always|never`` overrides both.
- It is the only module that imports colorama, and only on Windows when color is on (to make the
  console understand ANSI); elsewhere the escape codes below are written directly.
- It does not import the HTTP handler: the supervisor talks through it and never serves. The
  access-log line is :mod:`simplewsgi.accesslog`'s.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
from typing import IO, TYPE_CHECKING, Any, Optional

from simplewsgi.container import loopback_hint
from simplewsgi.http.net import WILDCARD_HOSTS, host_port
from simplewsgi.http.text import CONTROL_CHAR_ESCAPES
from simplewsgi.version import NAME, PYTHON_VERSION, __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

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
# Message kind -> (prefix, color).
PREFIXES = {"info": ("Info:", CYAN), "warn": ("Warning:", YELLOW), "error": ("Error:", RED)}

DEMO_LABEL = "demo app"
QUIT_HINT = "Press Ctrl+C to quit"
PRODUCTION_HINT = (
    "listening on {host}, reachable from other machines; this is a development server, "
    "in production use gunicorn or waitress"
)
LOOPBACK_NAMES = ("localhost", "::1")
# connect() on a UDP socket sends nothing: it only asks the routing table which local address
# would be used. These are documentation/private addresses, never contacted.
_ROUTE_PROBES = {socket.AF_INET: "10.255.255.255", socket.AF_INET6: "fd00::1"}

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


def _enable_windows_ansi() -> None:
    global _windows_fixed
    if sys.platform == "win32" and not _windows_fixed:
        import colorama

        colorama.just_fix_windows_console()
        _windows_fixed = True


def write_stderr(text: str, flush: bool = True) -> None:
    """Write ``text`` to stderr; if stderr is gone (the terminal closed: EIO; the pipe reader
    died: EPIPE), send stderr, and stdout when it is the same file, to the null device from now
    on. A server keeps serving when its terminal closes, and must not die of its own log line
    (nor exit 120, Python's status for a stream it cannot flush at exit)."""
    try:
        sys.stderr.write(text)
        if flush:
            sys.stderr.flush()
    except (OSError, ValueError):
        _silence_dead_streams()


def _silence_dead_streams() -> None:
    with contextlib.suppress(OSError):
        err = os.fstat(2)
        targets = [2]
        with contextlib.suppress(OSError):
            out = os.fstat(1)
            if (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino):
                targets.append(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            for fd in targets:
                os.dup2(null, fd)
        finally:
            os.close(null)


def line_buffer_stdout() -> None:
    """Have the app's ``print()`` reach a pipe or a file at each newline, as it does a terminal:
    block-buffered, ``docker logs`` or ``| tee`` would show nothing until the server exits."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, OSError, TypeError):  # closed, or not a text file
            reconfigure(line_buffering=True)


def paint(text: str, color: str, on: bool) -> str:
    return f"{color}{text}{RESET}" if on else text


class Console:
    """The terminal as the server sees it: stderr, colored or not."""

    def __init__(self, color: bool) -> None:
        self.color = color
        # Rows the banner adds after the addresses, (label, text): what the CLI settled
        # before serving (--port auto's choice), said where the user looks.
        self.banner_notes: list[tuple[str, str]] = []
        if color:
            _enable_windows_ansi()

    @classmethod
    def decide(cls, choice: str) -> Console:
        """The one color decision (``auto``, ``always``, ``never``) for stderr."""
        return cls(use_color(choice, sys.stderr))

    @property
    def choice(self) -> str:
        """The decision as a ``--color`` value, for processes that must not decide again."""
        return "always" if self.color else "never"

    def _message(self, kind: str, msg: str) -> None:
        prefix, color = PREFIXES[kind]
        write_stderr(f"{paint(prefix, color + BOLD, self.color)} {msg}\n")

    def info(self, msg: str) -> None:
        """One informational line on stderr (``Info: msg``)."""
        self._message("info", msg)

    def warn(self, msg: str) -> None:
        """One warning line on stderr (``Warning: msg``)."""
        self._message("warn", msg)

    def error(self, msg: str) -> None:
        """One error line on stderr (``Error: msg``); ``msg`` may carry more, indented lines."""
        self._message("error", msg)

    def banner(
        self,
        options: ServeOptions,
        addresses: Sequence[Any],
        reloader: Optional[str] = None,
        keys: Optional[str] = None,
    ) -> None:
        """The start-up lines: version, what is served, where, reloader backend, how to quit.

        ``addresses`` are the listening sockets' own addresses (``getsockname()``: the real
        port when 0 was asked; a path for a unix socket); ``reloader`` names the active
        file-watching backend when reloading; ``keys`` is the keyboard shortcuts' line.
        """
        on = self.color
        served = options.app if options.app is not None else DEMO_LABEL
        if options.factory:
            served += " (factory)"
        title = paint(f"{NAME} {__version__}", BOLD, on)
        lines = [f"{title} serving {served} (Python {PYTHON_VERSION})"]
        scheme = "https" if options.certfile else "http"
        rows: list[tuple[str, str]] = []
        exposed, loopback = [], False
        for address in addresses:
            if not isinstance(address, tuple):  # a unix socket
                rows.append(("Socket:", unix_socket_row(address, scheme)))
                continue
            host, port = str(address[0]), int(address[1])
            urls = server_urls(host, port, scheme)
            rows += [("Local:", urls[0])] + [("Network:", url) for url in urls[1:]]
            if not is_loopback(host):  # the bound address: what was typed may be a name
                exposed.append(host)
            else:
                loopback = True
        if options.tls_self_signed and options.certfile:
            rows += _self_signed_rows(options.certfile)
        lines += [f"  {label:<9}{paint(url, CYAN, on)}" for label, url in rows]
        lines += [f"  {label:<9}{text}" for label, text in self.banner_notes]
        if reloader:
            lines.append(f"  {'Reload:':<9}{reloader}")
        if options.live:
            files = ", ".join(options.live_include)
            lines.append(f"  {'Live:':<9}open pages refresh on changes to the code and {files}")
        if exposed:
            prefix, color = PREFIXES["warn"]
            hint = PRODUCTION_HINT.format(host=" and ".join(exposed))
            lines.append(f"{paint(prefix, color + BOLD, on)} {hint}")
        if loopback and not exposed:
            note = loopback_hint()
            if note is not None:
                prefix, color = PREFIXES["info"]
                lines.append(f"{paint(prefix, color + BOLD, on)} {note}")
        lines.append(QUIT_HINT)
        if keys:
            lines.append(keys)
        write_stderr("\n".join(lines) + "\n")

    def goodbye(self) -> None:
        """The last line after a graceful stop."""
        self.info("stopped, goodbye")


def unix_socket_row(address: str | bytes, scheme: str = "http") -> str:
    """A unix socket's path and how to ask it something, ready to paste into a shell. An
    abstract socket (Linux; its name starts with NUL) is written ``@name``."""
    name = os.fsdecode(address)
    abstract = name.startswith("\0")
    if abstract:
        name = name[1:]
    shown = name.translate(CONTROL_CHAR_ESCAPES)
    if shown != name or not name:  # control characters, or no name: nothing to paste
        return ("@" if abstract else "") + (shown or "(unnamed)")
    option = "--abstract-unix-socket" if abstract else "--unix-socket"
    import shlex  # here: only a unix socket's row needs it

    curl = f"curl {option} {shlex.quote(name)} {scheme}://localhost/"
    return f"{'@' if abstract else ''}{name}  ({curl})"


def server_urls(host: str, port: int, scheme: str = "http") -> list[str]:
    """Clickable URLs: the local one first; for a wildcard host also this machine's LAN URL."""
    if host not in WILDCARD_HOSTS:
        return [_url(host, port, scheme)]
    family = socket.AF_INET6 if host == "::" else socket.AF_INET
    urls = [_url("::1" if family == socket.AF_INET6 else "127.0.0.1", port, scheme)]
    lan = lan_address(family) or (lan_address(socket.AF_INET) if host == "::" else None)
    if lan is not None:
        urls.append(_url(lan, port, scheme))
    return urls


def _url(host: str, port: int, scheme: str = "http") -> str:
    return f"{scheme}://{host_port(host, port)}/"


def _self_signed_rows(path: str) -> list[tuple[str, str]]:
    """Which certificate to trust, or to recognise in the browser's warning."""
    from simplewsgi.certificates import NAMES, SELF_SIGNED_CRT, fingerprint

    crt = os.path.join(os.path.dirname(path), SELF_SIGNED_CRT)
    return [
        ("TLS:", f"self-signed for {', '.join(NAMES)}: {crt}"),
        ("SHA-256:", fingerprint(path)),
    ]


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
    """True for a loopback address in any spelling (``127.0.0.2``, ``::ffff:127.0.0.1``,
    ``0:0::1``) and for the name ``localhost``."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
