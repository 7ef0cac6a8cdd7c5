"""What wakes the supervisor's loop: non-blocking pipes its selector watches, and signals
written into one of them (``signal.set_wakeup_fd``), so that no signal handler runs the loop's
code: the loop reads the signal numbers and decides, on the main thread."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import FrameType


def nonblocking_pipe(cleanups: list[Callable[[], object]]) -> tuple[int, int]:
    """A pipe whose two ends never block; closing them is added to ``cleanups``."""
    read_end, write_end = os.pipe()
    for fd in (read_end, write_end):
        os.set_blocking(fd, False)
        cleanups.append(functools.partial(os.close, fd))
    return read_end, write_end


def signal_wakeup(signals: Iterable[int], cleanups: list[Callable[[], object]]) -> int:
    """The read end of a pipe into which each of ``signals`` writes its number; restoring
    the previous handlers and wakeup fd is added to ``cleanups``."""
    read_end, write_end = nonblocking_pipe(cleanups)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    handlers = {sig: signal.signal(sig, _wake_only) for sig in signals}

    def restore() -> None:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    cleanups.append(restore)
    return read_end


def drain(fd: int) -> bytes:
    """All a non-blocking pipe holds now."""
    data = b""
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while chunk := os.read(fd, 4096):
            data += chunk
    return data


def _wake_only(signum: int, frame: FrameType | None) -> None:
    """The wakeup fd carries the signal number to the main loop; nothing to do here."""
