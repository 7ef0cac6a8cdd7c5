"""The supervisor's keyboard: shortcuts read in its loop, and the terminal handed to a worker's
debugger.

Rules, and why:

- The supervisor owns the terminal (workers lead sessions of their own, so Ctrl+C reaches the
  supervisor only); it reads the keys as one more descriptor of its selector, on its main
  thread, like every other event. ``r`` and ``q`` become events of its loop (``Changed``
  with no path: a reload as if a file had changed; ``Stop``, as Ctrl+C); ``l`` reaches every
  worker through its control pipe, and each serve command carries the current state, so a
  new worker logs as the last one did.
- A worker's pdb says ``debugger`` before its first prompt: the keys are no longer read, the
  terminal goes back to the mode it had at start (pdb reads lines, with echo), and only then
  is the worker told ``terminal`` (pdb prompts). When no worker is at a prompt any more, or
  the one that was exits, the keys come back.
- After any worker exits, the terminal gets the mode it should have now: a worker killed in
  pdb, or an app that set raw mode, leaves it broken.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from typing import TYPE_CHECKING, Any, Callable

from simplewsgi.keys import Shortcuts, first_url
from simplewsgi.reload import messages
from simplewsgi.reload.events import Changed, Stop
from simplewsgi.terminal import Terminal, follow_job_control

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Iterable, Sequence

    from simplewsgi.console import Console
    from simplewsgi.options import ServeOptions
    from simplewsgi.reload.events import Event
    from simplewsgi.reload.process import WorkerProcess
    from simplewsgi.reload.supervisor import Supervisor


def claim_keyboard(
    supervisor: Supervisor, selector: selectors.BaseSelector, events: deque[Event]
) -> Keyboard | None:
    """The supervisor's keyboard (on its ``selector``, queuing its ``events``), when stdin is
    its terminal (and stderr a terminal too)."""
    terminal = Terminal.claim()
    if terminal is None:
        return None

    def restart() -> None:
        supervisor.console.info("restarting (r pressed)")
        events.append(Changed(frozenset(), time.perf_counter()))

    return Keyboard(
        terminal,
        selector,
        supervisor.console,
        supervisor.options,
        workers=lambda: (supervisor.current, supervisor.pending, *supervisor.stopping),
        restart=restart,
        quit=lambda: events.appendleft(Stop(signal.SIGINT)),  # as Ctrl+C
    )


class Keyboard:
    """The shortcuts on the supervisor's selector, paused while a worker's debugger prompts."""

    def __init__(
        self,
        terminal: Terminal,
        selector: selectors.BaseSelector,
        console: Console,
        options: ServeOptions,
        workers: Callable[[], Iterable[WorkerProcess | None]],
        restart: Callable[[], None],
        quit: Callable[[], None],
    ) -> None:
        self.terminal = terminal
        self._selector = selector
        self._workers = workers
        self.shortcuts = Shortcuts(
            console, None, options.access_log, quit, self._broadcast_access_log, restart
        )
        self._debugging: set[int] = set()  # pids of the workers at a pdb prompt
        self._suspended = False  # Ctrl+Z, and in the background after it
        self._restore_handlers: Callable[[], None] | None = None
        self._reading = False
        self._closed = False

    @property
    def access_log(self) -> bool:
        return self.shortcuts.access_log

    def start(self, options: ServeOptions, addresses: Sequence[Any]) -> None:
        """Once the banner is out: the keys' mode, and the keys read."""
        self.shortcuts.url = first_url(options, addresses)
        self.terminal.keys_mode()
        self._read(True)
        self._restore_handlers = follow_job_control(self._suspend, self._continue)

    def _suspend(self) -> None:
        self._suspended = True
        self._read(False)
        self.terminal.original_mode()

    def _continue(self) -> None:
        if self.terminal.foreground():
            self._suspended = False
            self._resume()

    def _read(self, on: bool) -> None:
        if on and not self._reading and not self._closed:
            self._selector.register(self.terminal.reader, selectors.EVENT_READ, self._on_input)
        elif not on and self._reading:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self.terminal.reader)
        self._reading = on and not self._closed

    def _on_input(self, fd: int) -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError:  # the terminal is gone (EIO): SIGHUP follows
            data = b""
        if not data:
            self._read(False)
            return
        self.shortcuts.press(data)

    def _broadcast_access_log(self, on: bool) -> None:
        for worker in self._workers():
            if worker is not None:
                worker.tell(messages.ACCESS_LOG, on=on)

    def debugger(self, worker: WorkerProcess, active: bool) -> None:
        """A worker's pdb is about to prompt (answer once the terminal is its), or is done."""
        if active:
            self._debugging.add(worker.pid)
            self._read(False)
            self.terminal.original_mode()
            worker.tell(messages.TERMINAL)
        else:
            self._debugging.discard(worker.pid)
            self._resume()

    def worker_exited(self, worker: WorkerProcess) -> None:
        """Back to the mode the terminal should have; the keys again if its pdb had them."""
        self._debugging.discard(worker.pid)
        if self._debugging or self._closed or self._suspended:
            self.terminal.original_mode()
        else:
            self._resume()
            self.terminal.reassert()

    def _resume(self) -> None:
        if not (self._debugging or self._closed or self._suspended or self._reading):
            self.terminal.keys_mode()
            self._read(True)

    def close(self) -> None:
        """No more keys; the terminal's mode as it was at start."""
        self._read(False)
        self._closed = True
        self.terminal.original_mode()
        if self._restore_handlers is not None:
            self._restore_handlers()
