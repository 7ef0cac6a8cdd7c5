"""Keyboard shortcuts of a server in a terminal (one key, no Enter), and opening the browser.

``r`` restart (under --reload), ``o`` open the browser, ``c`` clear the screen, ``l`` the
access log off/on, ``q`` quit (as Ctrl+C), ``h`` help.

Rules, and why:

- Keys are read by the process that owns the terminal, and by it only: plain serving reads
  them on a daemon thread (:class:`KeyReader`), the reloader's supervisor in its own loop
  (``reload/keyboard.py``). Workers never read the keyboard.
- A debugger takes the terminal: while pdb prompts (:mod:`simplewsgi.pdbhook`), keys are not
  read and the terminal is in the mode it had at start, so pdb reads lines with echo as ever.
- What a key does beyond this module is the caller's (a restart, the access-log switch
  reaching the workers): :class:`Shortcuts` maps keys to actions and says what happened.
- The browser is opened (the BROWSER command, else ``webbrowser``, imported then) on a thread
  of its own: a browser that takes seconds to start, or a ``BROWSER`` command that waits,
  blocks nothing.
"""

from __future__ import annotations

import os
import re
import select
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from simplewsgi.console import server_urls, write_stderr
from simplewsgi.terminal import follow_job_control

if TYPE_CHECKING:
    from collections.abc import Sequence

    from simplewsgi.console import Console
    from simplewsgi.options import ServeOptions
    from simplewsgi.terminal import Terminal

# ECMA-48: CSI (ESC [ parameters final), SS3 (ESC O x, some keypads' arrows), ESC x (Alt+x).
ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|O.|.)?", re.DOTALL)
ESCAPE_WAIT = 0.5  # seconds a cut escape sequence waits for its end (a lone Esc is dropped)
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # home, then erase the display (ECMA-48 CUP, ED)
NAMES = {"r": "restart", "o": "open", "c": "clear", "l": "log", "q": "quit", "h": "help"}
PAUSE_TIMEOUT = 1.0  # how long a debugger waits for the key reader to let go
NEEDS_RELOAD = "r restarts the app under --reload only (without it, the app is imported once)"


def unfinished_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` start an escape sequence or a UTF-8 character
    that the next read completes (0: none)."""
    start = data.rfind(b"\x1b")
    if start >= 0:
        rest = data[start + 1 :]
        if rest in (b"", b"O") or (rest[:1] == b"[" and re.search(rb"[@-~]", rest[1:]) is None):
            return len(data) - start
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead
            continue
        needed = (
            2 if 0xC0 <= byte < 0xE0 else 3 if 0xE0 <= byte < 0xF0 else 4 if byte >= 0xF0 else 1
        )
        return back if back < needed else 0
    return 0


def first_url(options: ServeOptions, addresses: Sequence[Any]) -> Optional[str]:
    """The banner's first URL (what ``o`` and ``--open`` open); None on a unix socket."""
    scheme = "https" if options.certfile else "http"
    for address in addresses:
        if isinstance(address, tuple):
            return server_urls(str(address[0]), int(address[1]), scheme)[0]
    return None


def open_browser(url: Optional[str], console: Console) -> None:
    """Open ``url`` in the browser, on a thread of its own; say so if it cannot be."""
    if url is None:
        console.warn("nothing to open in a browser: the server listens on a unix socket")
        return

    def run() -> None:
        try:
            problem = _open(url)
        except Exception as error:  # a broken browser command...
            problem = str(error)
        if problem:
            console.warn(f"could not open {url} in a browser: {problem}")

    threading.Thread(target=run, name="open-browser", daemon=True).start()


def _open(url: str) -> Optional[str]:
    """Open ``url`` with the browser BROWSER names (each of its entries in turn), else the
    system's graphical one; what went wrong, or None. A text-mode browser (lynx, w3m), which
    webbrowser falls back to without a display, would take over the server's terminal: never
    that. A BROWSER command runs in a session of its own, without the terminal (webbrowser
    would run it in ours: the server's Ctrl+C would kill the browser too)."""
    chosen = [entry for entry in os.environ.get("BROWSER", "").split(os.pathsep) if entry]
    for entry in chosen:
        if _run_browser(entry, url):
            return None
    if chosen:
        return f"BROWSER ({os.environ['BROWSER']}) did not open it"
    import webbrowser  # its graphical browsers start in sessions of their own

    if sys.platform not in ("darwin", "win32") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no graphical display here (DISPLAY is not set); BROWSER may name a browser"
    return None if webbrowser.open(url) else "no browser found; BROWSER may name one"


def _run_browser(entry: str, url: str) -> bool:
    """Run one BROWSER entry (webbrowser's syntax: ``%s`` is the URL, else it goes last; a
    final ``&``: do not wait) on ``url``; True if it started and did not fail."""
    import shlex
    import subprocess

    try:
        words = shlex.split(entry)
    except ValueError:
        return False
    wait = not (words and words[-1] == "&")
    words = words if wait else words[:-1]
    if not words:
        return False
    argv = [word.replace("%s", url) for word in words] if "%s" in entry else [*words, url]
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    return not wait or process.wait() == 0


class Shortcuts:
    """Keys -> actions. ``restart`` is None without the reloader; ``set_access_log`` hears
    the access log's new state."""

    def __init__(
        self,
        console: Console,
        url: Optional[str],
        access_log: bool,
        quit: Callable[[], None],
        set_access_log: Callable[[bool], None],
        restart: Optional[Callable[[], None]] = None,
    ) -> None:
        self.console = console
        self.url = url
        self.access_log = access_log
        self._set_access_log = set_access_log
        self._pending = b""  # the start of an escape sequence or character a read cut
        self._pending_since = 0.0
        self._actions: dict[str, Callable[[], None]] = {
            "o": lambda: open_browser(self.url, console),
            "c": self.clear,
            "l": self.toggle_access_log,
            "q": quit,
            "h": self.help,
        }
        if restart is not None:
            self._actions["r"] = restart

    def banner_line(self) -> str:
        """``Keys: r restart, o open, c clear, l log, q quit, h help``"""
        return "Keys: " + ", ".join(f"{k} {NAMES[k]}" for k in NAMES if k in self._actions)

    def press(self, data: bytes) -> None:
        """Act on what was read from the terminal: each key in turn; escape sequences (an
        arrow, a function key) are dropped whole, also when a read ends inside one (a held
        arrow fills a read: the rest of the sequence must not act as ``C`` or ``Q``)."""
        now = time.monotonic()
        if self._pending and now - self._pending_since < ESCAPE_WAIT:
            data = self._pending + data
        self._pending = b""
        cut = unfinished_tail(data)
        if cut:
            self._pending, self._pending_since, data = data[-cut:], now, data[:-cut]
        for char in ESCAPE_SEQUENCE.sub("", data.decode(errors="replace")):
            action = self._actions.get(char.lower())
            if action is not None:
                action()
            elif char.lower() == "r":
                self.console.info(NEEDS_RELOAD)
            elif char.isprintable() and not char.isspace():
                self.console.info(f"no shortcut for {char!r}; h lists them")

    def clear(self) -> None:
        if os.environ.get("TERM") == "dumb":  # it would print the codes, not obey them
            self.console.info("this terminal (TERM=dumb) cannot be cleared")
        else:
            write_stderr(CLEAR_SCREEN)

    def toggle_access_log(self) -> None:
        self.access_log = not self.access_log
        self._set_access_log(self.access_log)
        self.console.info(f"access log {'on' if self.access_log else 'off'}")

    def help(self) -> None:
        what = {
            "r": "restart the app now",
            "o": f"open {self.url} in the browser" if self.url else "open the browser",
            "c": "clear the screen",
            "l": f"turn the access log {'off' if self.access_log else 'on'}",
            "q": "quit (as Ctrl+C)",
            "h": "this help",
        }
        rows = [f"  {key}  {what[key]}" for key in NAMES if key in self._actions]
        write_stderr("\n".join(["Keys:", *rows]) + "\n")


class KeyReader:
    """Plain serving: the keys read on a daemon thread, the terminal in the keys' mode; a
    debugger's prompt pauses it (:meth:`pause`, :meth:`resume`), and so does Ctrl+Z until
    ``fg``."""

    def __init__(self, terminal: Terminal, shortcuts: Shortcuts) -> None:
        self.terminal = terminal
        self.shortcuts = shortcuts
        self._wake_r, self._wake_w = os.pipe()
        self._cond = threading.Condition()
        self._paused: set[str] = set()  # why not: "debugger", "job" (stopped, background)
        self._closed = False
        self._parked = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keys", daemon=True)
        self._restore_handlers: Optional[Callable[[], None]] = None

    def start(self) -> None:
        """From the main thread (it sets the job-control handlers)."""
        self.terminal.keys_mode()
        self._thread.start()
        self._restore_handlers = follow_job_control(
            lambda: self.pause("job"), lambda: self.resume("job")
        )

    def _run(self) -> None:
        fd = self.terminal.reader
        while True:
            with self._cond:
                while self._paused and not self._closed:
                    self._parked.set()
                    self._cond.wait()
                if self._closed:
                    return
            readable, _, _ = select.select([fd, self._wake_r], [], [])
            if self._wake_r in readable:
                os.read(self._wake_r, 64)
                continue
            try:
                data = os.read(fd, 64)
            except BlockingIOError:  # an app reading stdin took the bytes first
                continue
            except OSError:  # the terminal is gone (EIO)
                return
            if not data:
                return
            self.shortcuts.press(data)

    def pause(self, why: str = "debugger") -> None:
        """Stop reading (wait until the thread has) and give the terminal its mode back."""
        with self._cond:
            reading = not self._paused and not self._closed
            self._paused.add(why)
            if reading:
                self._parked.clear()
        if reading:
            os.write(self._wake_w, b"!")
            if self._thread.is_alive() and threading.current_thread() is not self._thread:
                self._parked.wait(PAUSE_TIMEOUT)
        self.terminal.original_mode()

    def resume(self, why: str = "debugger") -> None:
        """Read again, unless another reason holds (or, after Ctrl+Z, in the background)."""
        if why == "job" and not self.terminal.foreground():
            return
        with self._cond:
            self._paused.discard(why)
            if self._closed or self._paused:
                return
            self.terminal.keys_mode()
            self._cond.notify_all()

    def close(self) -> None:
        """The terminal's mode back as it was; the thread ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.terminal.original_mode()
        os.write(self._wake_w, b"!")
        if self._restore_handlers is not None:
            self._restore_handlers()
