"""The signals that stop the command, and the two exceptions by which a stop cuts in.

- SIGINT (Ctrl+C), SIGTERM (a service manager, a container) and SIGHUP (the terminal closing)
  each ask for a graceful stop: in-flight requests finish. A closed terminal must not drop
  requests.
- Before serving started (the app still importing), the CLI installs :func:`stop_before_serving`
  for SIGTERM and SIGHUP (SIGINT already raises ``KeyboardInterrupt``): the stop raises
  :class:`StoppedBeforeServing`, and the CLI exits 128 + the signal's number.
- During a graceful stop, a second signal raises :class:`ForcedStop`: quit now.

A leaf of the bottom floor, so that the CLI, ``run`` and the reloader share one policy without
importing each other.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Optional

STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class ForcedStop(Exception):
    """A second stop signal during a graceful stop: quit now, without waiting for requests."""


class StoppedBeforeServing(BaseException):
    """A stop signal arrived before serving started (while the app was importing, say).

    A ``BaseException``, like ``KeyboardInterrupt``: it must pass through the app's import and
    the importer, which report every ``Exception`` as the app's failure.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def stop_before_serving(signum: int, frame: Optional[FrameType]) -> None:
    """The handler for SIGTERM and SIGHUP until serving starts."""
    raise StoppedBeforeServing(signum)
