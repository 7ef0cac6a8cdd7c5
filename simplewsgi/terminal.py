"""The terminal's mode while keyboard shortcuts are read: cbreak without echo, and back.

Rules, and why:

- cbreak, not raw: ``ISIG`` stays on, so Ctrl+C (and Ctrl+\\, Ctrl+Z) still reach the
  foreground process group as signals, exactly as without shortcuts; output processing stays
  on too, so log lines keep their line ends. Only line editing and echo go: a key acts when
  pressed, and is not printed among the log lines.
- The mode found at start is put back on every way out: the caller's ``finally`` for a stop
  (Ctrl+C, q, SIGTERM, SIGHUP, an exception in the loop) and ``atexit`` for a way out that
  skips it. A SIGKILL cannot be helped.
- A terminal already out of line mode is not claimed: another program reads keys on it (a
  second server on one terminal would save that mode as the one to put back).
- Only the terminal's foreground process group claims it: a background process that set the
  mode would be stopped (SIGTTOU), one that read it too (SIGTTIN). A terminal that is not the
  process's controlling terminal is not claimed either: somebody else's job control owns it.
- Ctrl+Z (SIGTSTP) puts the original mode back before the process stops, and ``fg``
  (SIGCONT in the foreground) takes the keys up again; after ``bg`` they stay off, since a
  background process that read the terminal would be stopped.
- POSIX only (termios), standard library only; elsewhere there are no shortcuts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from types import FrameType

_LFLAG, _CC = 3, 6  # indices in termios' attribute list


class Terminal:
    """A terminal this process may switch between its original mode and the keys' mode."""

    def __init__(self, fd: int, saved: list[Any]) -> None:
        self.fd = fd
        self._saved = saved
        self.in_keys_mode = False
        self.reader = _own_reader(fd)  # where keys are read

    @classmethod
    def claim(cls, fd: int = 0, out: int = 2) -> Terminal | None:
        """The terminal on ``fd`` when it and ``out`` (where we talk) are terminals and this
        process is in its foreground; None otherwise."""
        if not (os.isatty(fd) and os.isatty(out)) or not _foreground(fd):
            return None  # the usual case in a pipe or a service: termios is not even loaded
        try:
            import termios
        except ImportError:
            return None
        try:
            mode = termios.tcgetattr(fd)
        except (OSError, termios.error):
            return None
        if not mode[_LFLAG] & termios.ICANON or not mode[_LFLAG] & termios.ECHO:
            return None  # another program reads keys on it (a server sharing the terminal)
        return cls(fd, mode)

    def keys_mode(self) -> None:
        """cbreak without echo (``ISIG`` kept); the original comes back at exit at the latest."""
        import termios

        mode = list(self._saved)
        mode[_LFLAG] = self._saved[_LFLAG] & ~(termios.ECHO | termios.ICANON)
        mode[_CC] = list(self._saved[_CC])
        mode[_CC][termios.VMIN] = 1
        mode[_CC][termios.VTIME] = 0
        if self._set(mode, flush=True):  # keys typed before they were shown are dropped
            if not self.in_keys_mode:
                atexit.register(self.original_mode)
            self.in_keys_mode = True

    def original_mode(self) -> None:
        """The mode the terminal had when claimed (a debugger's prompt, and every exit)."""
        if self.in_keys_mode:
            atexit.unregister(self.original_mode)
            self.in_keys_mode = False
        self._set(self._saved)

    def reassert(self) -> None:
        """Put the current mode back on (a process that shared the terminal may have changed
        it, a worker's pdb or an app's raw mode)."""
        if self.in_keys_mode:
            self.in_keys_mode = False
            atexit.unregister(self.original_mode)
            self.keys_mode()

    def foreground(self) -> bool:
        return _foreground(self.fd)

    def _set(self, mode: list[Any], flush: bool = False) -> bool:
        import termios

        when = termios.TCSAFLUSH if flush else termios.TCSADRAIN
        with contextlib.suppress(OSError, termios.error):  # gone (EIO), or no longer ours
            if _foreground(self.fd):
                termios.tcsetattr(self.fd, when, mode)
                return True
        return False


def _own_reader(fd: int) -> int:
    """A descriptor of our own on the terminal, non-blocking. O_NONBLOCK on ``fd`` would be
    the app's too (it shares stdin: its ``input()`` would fail), and a blocking read that
    select() woke may find the bytes taken by an app reading stdin, and wait: the reloader's
    loop would then hear no signal. Opened once, for the life of the process."""
    try:
        return os.open(os.ttyname(fd), os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return fd


def follow_job_control(
    suspend: Callable[[], None], resume: Callable[[], None]
) -> Callable[[], None]:
    """Ctrl+Z: ``suspend`` (keys off, the mode back), then stop as SIGTSTP would; SIGCONT
    (``fg``, ``bg``): ``resume``, which checks it is in the foreground. From the main thread;
    returns what puts the previous handlers back."""

    def stop(signum: int, frame: FrameType | None) -> None:
        suspend()
        os.kill(os.getpid(), signal.SIGSTOP)  # SIGCONT goes on from here

    def carry_on(signum: int, frame: FrameType | None) -> None:
        resume()

    previous = {
        signal.SIGTSTP: signal.signal(signal.SIGTSTP, stop),
        signal.SIGCONT: signal.signal(signal.SIGCONT, carry_on),
    }

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def _foreground(fd: int) -> bool:
    """This process's group is the foreground one of the terminal on ``fd`` (its controlling
    terminal)."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
