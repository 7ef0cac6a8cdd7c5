"""The supervisor's events: everything its loop reacts to, each a small frozen value.

The watcher's thread, the signal handlers and the workers' pipes only produce these; the loop
in :mod:`.supervisor` decides on each, on the main thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from simplewsgi.reload.messages import FailureReport
    from simplewsgi.reload.process import WorkerProcess


@dataclass(frozen=True)
class Changed:
    """Watched files changed (a debounced batch)."""

    paths: frozenset[str]
    at: float


@dataclass(frozen=True)
class Released:
    """Changes held while git held its index lock: the lock is gone, or outlived the limit
    (``note`` warns); no paths: the hold lasts, ``note`` says so."""

    paths: frozenset[str]
    at: float
    note: str


@dataclass(frozen=True)
class Ready:
    """A worker reports that it serves."""

    worker: WorkerProcess


@dataclass(frozen=True)
class Failed:
    """A worker could not load what it was told to serve."""

    worker: WorkerProcess
    report: FailureReport


@dataclass(frozen=True)
class Exited:
    """A worker process is gone (reaped)."""

    worker: WorkerProcess
    returncode: int


@dataclass(frozen=True)
class Overdue:
    """A stopping worker did not finish its requests in time."""

    worker: WorkerProcess


@dataclass(frozen=True)
class Stop:
    """A stop signal (SIGINT, SIGTERM, SIGHUP) reached the supervisor."""

    signum: int


Event = Union[Changed, Released, Ready, Failed, Exited, Overdue, Stop]
