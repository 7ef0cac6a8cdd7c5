"""The start-up probe of file events (simplewsgi.reload.probe, Watcher.probe) with real files
and a real observer.

A root whose events never arrive (a network or VM mount) cannot be made here without root and
FUSE, so the deaf case keeps watchdog's real inotify observer and makes its emitter read
nothing: the kernel's silence, one level up.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.observers import inotify

from simplewsgi.reload import probe
from simplewsgi.reload.filters import PROBE_PREFIX
from simplewsgi.reload.watcher import Watcher
from tests.test_watcher import FAST_POLL, Recorder, write

PROBE_BUDGET = 0.05  # what a probe may cost when events work (the figure)


def _leftovers(root: Path) -> list[str]:
    return [name for name in os.listdir(root) if name.startswith(PROBE_PREFIX)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "project" / "app.py")
    return tmp_path / "project"


@pytest.fixture
def watchers() -> Iterator[list[Watcher]]:
    started: list[Watcher] = []
    yield started
    for watcher in started:
        watcher.stop()


def _start(started: list[Watcher], root: Path, **kwargs: object) -> tuple[Watcher, Recorder]:
    recorder = Recorder()
    watcher = Watcher([str(root)], on_change=recorder, poll_interval=FAST_POLL, **kwargs)  # type: ignore[arg-type]
    started.append(watcher)
    watcher.start()
    return watcher, recorder


@pytest.mark.parametrize("include", [("*.py",), ("*",)])
def test_events_work_no_fallback_no_delay_no_leftover_no_reload(
    project: Path, watchers: list[Watcher], include: tuple[str, ...]
) -> None:
    """``*``: the probe file would match the patterns; it still reloads nothing."""
    watcher, recorder = _start(watchers, project, include=include)
    costs = []
    for _ in range(5):
        began = time.perf_counter()
        watcher.probe()
        costs.append(time.perf_counter() - began)
    assert watcher.fallback_reason is None and watcher.backend.startswith("inotify")
    assert sorted(costs)[2] < PROBE_BUDGET, costs  # the median: a loaded machine may stall once
    assert _leftovers(project) == []
    recorder.control(project / "app.py")  # the first and only batch: the probes were not one


def test_a_deaf_root_is_polled_and_named(
    project: Path, watchers: list[Watcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    def deaf(self: object, timeout: float, **kwargs: object) -> None:
        time.sleep(timeout)  # the kernel never says anything

    monkeypatch.setattr(inotify.InotifyEmitter, "queue_events", deaf)
    watcher, recorder = _start(watchers, project)
    began = time.perf_counter()
    watcher.probe(deadline=0.3)
    assert 0.3 <= time.perf_counter() - began < 3.0
    assert watcher.backend.startswith("polling")
    assert watcher.fallback_reason is not None
    assert f"no file events from {project} within 0.3 s" in watcher.fallback_reason
    assert _leftovers(project) == []
    write(project / "app.py", "app = 'polled'\n")  # the poller reports it; the probe did not
    assert recorder.next() == [str(project / "app.py")]


def test_polling_is_not_probed(project: Path, watchers: list[Watcher]) -> None:
    watcher, _ = _start(watchers, project, poll=True)
    began = time.perf_counter()
    watcher.probe()
    assert time.perf_counter() - began < PROBE_BUDGET
    assert watcher.fallback_reason is None


def test_unwritable_roots_are_not_probed(tmp_path: Path) -> None:
    gone = tmp_path / "gone"  # as good as read-only: nothing can be created in it
    heard = threading.Event()
    began = time.perf_counter()
    assert probe.deaf_roots([(str(gone), probe.probe_path(str(gone)), heard)], 5.0) == []
    assert time.perf_counter() - began < 1.0  # no wait for what was never made


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_directory_is_not_probed(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        path = probe.probe_path(str(tmp_path))
        assert probe.deaf_roots([(str(tmp_path), path, threading.Event())], 5.0) == []
    finally:
        tmp_path.chmod(0o755)


def test_probe_names_are_hidden_unique_and_ours(tmp_path: Path) -> None:
    first, second = (os.path.basename(probe.probe_path(str(tmp_path))) for _ in range(2))
    assert first != second
    assert first.startswith(f"{PROBE_PREFIX}{os.getpid()}-")


@pytest.mark.parametrize("poll", [False, True])
def test_stale_probe_files_are_never_changes(
    project: Path, watchers: list[Watcher], poll: bool
) -> None:
    """A probe file of a dead process (or of another server on the same tree) is ignored."""
    _, recorder = _start(watchers, project, include=("*",), poll=poll)
    write(project / f"{PROBE_PREFIX}999999-deadbeef", "")
    recorder.control(project / "app.py")
