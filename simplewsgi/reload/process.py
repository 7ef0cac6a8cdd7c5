"""The supervisor's side of a worker process: spawn it, tell it what to do, hear back, reap it.

:mod:`.worker` is the other end; :mod:`.messages` defines what they say. Rules:

- A worker is always ``sys.executable`` running :data:`~.messages.BOOTSTRAP`, with the
  supervisor's interpreter flags (``-W``, ``-X``...), never a re-run of ``sys.argv``: how the
  supervisor was launched (``simplewsgi``, ``python -m simplewsgi``, a venv's script) does not
  matter.
- It inherits exactly these descriptors (``pass_fds``): the listening sockets and its ends of
  the control and status pipes; the supervisor keeps the other ends, non-blocking.
- It starts with the stop signals blocked: a Ctrl+C or a closing terminal during its interpreter
  start-up waits until it has installed its own handlers, instead of killing it or printing a
  KeyboardInterrupt traceback.
- It leads a session of its own (``setsid``), so its process group holds everything the app
  starts (a bundler, a queue worker): when the worker is gone, :meth:`WorkerProcess.end_group`
  ends them too (SIGTERM, then SIGKILL after ``GROUP_GRACE``). A session rather than only a
  group: a background group of the terminal's session would be stopped (SIGTTIN) the moment
  the app's ``breakpoint()`` reads the terminal. Terminal signals then reach the supervisor
  only, which tells workers what to do through their pipes anyway.
- The terminal's settings are saved once and put back after each worker exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any, Callable

import simplewsgi
from simplewsgi.listen import LISTEN_FD_ENV
from simplewsgi.reload import messages
from simplewsgi.signals import STOP_SIGNALS

if TYPE_CHECKING:
    import socket
    from collections.abc import Sequence

    from simplewsgi.options import ServeOptions

# When a worker is reaped (its pidfd or SIGCHLD said it exited, or it was just killed), how
# long waitpid may wait for it before it is killed.
REAP_TIMEOUT = 2.0
# How long what a finished worker started gets between SIGTERM and SIGKILL.
GROUP_GRACE = 1.0
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(simplewsgi.__file__)))


class WorkerProcess:
    """One worker as the supervisor sees it: the process, its two pipes, what it serves."""

    def __init__(self, popen: subprocess.Popen[bytes], control: int, status: int) -> None:
        self.popen, self.control, self.status = popen, control, status
        self.role = ""  # what it was told to serve; "" while a spare
        self.since = 0.0  # perf_counter() of the change (or start) it answers
        self.deadline: float | None = None  # when stopping: kill after this
        self.returncode: int | None = None  # once reaped
        self.imports: list[Any] = []  # its app's slowest imports, [name, ms] (importtimes)
        self.group_deadline: float | None = None  # when its process group gets SIGKILL
        # Linux: a descriptor that becomes readable when the process exits. The status pipe's
        # end of file is not enough: a child the app forked keeps that pipe open.
        self.pidfd: int | None = open_pidfd(popen.pid)
        self._buffer = b""

    @classmethod
    def spawn(cls, sockets: Sequence[socket.socket], options: ServeOptions) -> WorkerProcess:
        control_r, control_w = os.pipe()
        status_r, status_w = os.pipe()
        listen_fds = tuple(sock.fileno() for sock in sockets)
        env = dict(os.environ)
        env.update({
            LISTEN_FD_ENV: ",".join(map(str, listen_fds)),
            messages.CONTROL_FD_ENV: str(control_r), messages.STATUS_FD_ENV: str(status_w),
            messages.OPTIONS_ENV: options.to_json(), messages.SUPERVISOR_PID_ENV: str(os.getpid()),
        })  # fmt: skip
        argv = [sys.executable, *interpreter_flags(), "-c", messages.BOOTSTRAP, _PACKAGE_PARENT]
        # The signal mask survives exec; the worker unblocks them once its handlers are set.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            popen = subprocess.Popen(
                argv, env=env, pass_fds=(*listen_fds, control_r, status_w), start_new_session=True
            )
        except BaseException:
            os.close(control_w)
            os.close(status_r)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(control_r)
            os.close(status_w)
        os.set_blocking(status_r, False)
        return cls(popen, control_w, status_r)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tell(self, kind: str, **fields: Any) -> None:
        """Send a command; a dead worker is not an error here (its status pipe says so)."""
        with contextlib.suppress(OSError):
            os.write(self.control, messages.encode({"kind": kind, **fields}))

    def messages(self, data: bytes) -> list[dict[str, Any]]:
        """The complete status messages in what was read so far."""
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        return [message for message in map(messages.decode, lines) if message is not None]

    @property
    def watched_fds(self) -> list[int]:
        """What the supervisor waits on for this worker: its status pipe and pidfd."""
        return [self.status] if self.pidfd is None else [self.status, self.pidfd]

    def reap(self) -> int:
        """Collect the exit status (killing it if it lingers) and close our ends; once."""
        if self.returncode is None:
            for fd in (self.control, *self.watched_fds):
                with contextlib.suppress(OSError):
                    os.close(fd)
            try:
                self.returncode = self.popen.wait(REAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.returncode = self.popen.wait()
        return self.returncode

    def kill(self) -> None:
        self.popen.kill()  # a no-op once it has been reaped

    def end_group(self, now: float) -> bool:
        """After the worker was reaped: SIGTERM to what it started (its process group, which
        outlives it while any member lives). True if there was anyone to signal; then
        :meth:`kill_group` is due at ``group_deadline``."""
        if _signal_group(self.pid, signal.SIGTERM):
            self.group_deadline = now + GROUP_GRACE
            return True
        return False

    def group_alive(self) -> bool:
        return _signal_group(self.pid, 0)

    def kill_group(self) -> None:
        _signal_group(self.pid, signal.SIGKILL)
        self.group_deadline = None


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group; False if it has no member left (or is not ours to signal)."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid`` (Linux 5.3+), or None where the platform has none."""
    opener: Callable[[int], int] | None = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:
        return None


def interpreter_flags() -> list[str]:
    """The supervisor's -W/-X/-O... flags, for its workers (as multiprocessing does)."""
    flags: Callable[[], list[str]] | None = getattr(
        subprocess, "_args_from_interpreter_flags", None
    )
    return flags() if flags is not None else []


def describe_exit(returncode: int) -> str:
    """``exited with code 3`` or ``was killed by SIGSEGV``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        return f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


class TerminalState:
    """The terminal's settings at start, put back after each worker exits (a worker killed in
    pdb, or an app that switched the terminal to raw mode, would leave it broken)."""

    def __init__(self) -> None:
        self._saved: list[Any] | None = None
        try:
            import termios

            self._fd = sys.stdin.fileno()
            if os.isatty(self._fd):
                self._saved = termios.tcgetattr(self._fd)
        except (ImportError, OSError, ValueError, AttributeError):
            self._saved = None

    def restore(self) -> None:
        if self._saved is None:
            return
        import termios

        with contextlib.suppress(OSError, termios.error):
            # Only from the foreground: a background process would be stopped by SIGTTOU.
            if os.tcgetpgrp(self._fd) == os.getpgrp():
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
