"""The signals that stop the command, and the two exceptions by which a stop cuts in.

- SIGINT (Ctrl+C), SIGTERM (a service manager, a container) and SIGHUP (the terminal closing)
  each ask for a graceful stop: in-flight requests finish. A closed terminal must not drop
  requests.
- Before serving started (the app still importing), the CLI installs :func:`stop_before_serving`
  for SIGTERM and SIGHUP (SIGINT already raises ``KeyboardInterrupt``): the stop raises
  :class:`StoppedBeforeServing`, and the CLI exits 128 + the signal's number.
- During a graceful stop, a second signal raises :class:`ForcedStop`: quit now.
- A stop signal ignored when the command started (``nohup``) stays ignored: only
  :data:`HEEDED_SIGNALS` get handlers.

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
# The stop signals to handle: those the parent did not set to be ignored. ``nohup`` ignores
# SIGHUP and a shell's background job SIGINT, so that the command outlives the terminal; a
# handler of ours would undo that. Read when this module is first imported, before any handler
# of ours is installed (Python itself leaves an inherited SIG_IGN alone).
HEEDED_SIGNALS: tuple[int, ...] = tuple(
    sig for sig in STOP_SIGNALS if signal.getsignal(sig) != signal.SIG_IGN
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
