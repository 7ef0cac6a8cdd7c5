"""simplewsgi.reload.watcher against real files and a real watchdog observer.

Positives wait on a queue with a deadline. Negatives ("this produces no callback") are proven
with a positive control: after the action, write a watched file and require that the first and
only batch received is exactly that file, so anything wrongly reported would show up first.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simplewsgi.reload import watcher as watcher_mod
from simplewsgi.reload.watcher import (
    ALWAYS_IGNORED_DIRS,
    ALWAYS_IGNORED_FILES,
    DEFAULT_INCLUDE,
    Watcher,
    WatcherError,
)

DEADLINE = 5.0  # seconds for anything that must happen; generous for a loaded 2-core machine
FAST_POLL = 0.05


class Recorder:
    """The on_change callback: queues each batch, remembers the thread it ran on."""

    def __init__(self) -> None:
        self.batches: queue.Queue[list[str]] = queue.Queue()
        self.threads: set[str] = set()

    def __call__(self, paths: list[str]) -> None:
        self.threads.add(threading.current_thread().name)
        self.batches.put(paths)

    def next(self, timeout: float = DEADLINE) -> list[str]:
        try:
            return self.batches.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no change reported within {timeout} s") from None

    def until(self, path: Path, *or_paths: Path) -> list[list[str]]:
        """All batches up to and including the first one that contains ``path`` (or any of
        ``or_paths``)."""
        wanted = {str(p) for p in (path, *or_paths)}
        seen: list[list[str]] = []
        deadline = time.monotonic() + DEADLINE
        while not seen or not wanted & set(seen[-1]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{path} not reported within {DEADLINE} s; got {seen}")
            seen.append(self.next(left))
        return seen

    def control(self, path: Path) -> None:
        """Positive control: writing ``path`` must be the first and only thing reported."""
        write(path, "control = True\n")
        assert self.next() == [str(path)]


def write(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root / "app.py", "app = None\n")
    return root


@pytest.fixture
def start_watcher() -> Iterator[Callable[..., tuple[Watcher, Recorder]]]:
    started: list[Watcher] = []

    def start(dirs: list[Path], **kwargs: Any) -> tuple[Watcher, Recorder]:
        recorder = Recorder()
        w = Watcher([str(d) for d in dirs], on_change=recorder, **kwargs)
        started.append(w)
        w.start()
        return w, recorder

    yield start
    for w in started:
        w.stop()


StartWatcher = Callable[..., tuple[Watcher, Recorder]]


def test_public_constants() -> None:
    assert DEFAULT_INCLUDE == ("*.py",)
    assert {"__pycache__", ".git", "node_modules", "site-packages", "*.egg-info"} <= set(
        ALWAYS_IGNORED_DIRS
    )
    assert {"*.pyc", "*.swp", "4913", "*~", ".#*", "#*#"} <= set(ALWAYS_IGNORED_FILES)


def test_modified_py_reported_on_worker_thread(project: Path, start_watcher: StartWatcher) -> None:
    w, rec = start_watcher([project])
    assert w.backend.startswith("inotify (")
    assert w.fallback_reason is None
    write(project / "app.py", "app = 1\n")
    assert rec.next() == [str(project / "app.py")]
    assert rec.threads == {"simplewsgi-watcher"}


def test_created_and_deleted_reported(project: Path, start_watcher: StartWatcher) -> None:
    _, rec = start_watcher([project])
    new = write(project / "pkg" / "new.py")  # a new subdirectory is picked up too
    assert str(new) in rec.until(new)[-1]
    (project / "app.py").unlink()
    assert str(project / "app.py") in rec.until(project / "app.py")[-1]


def test_nested_directories_created_while_watching(
    project: Path, start_watcher: StartWatcher
) -> None:
    # `mkdir -p` races watchdog 7.1's recursive watch into a RuntimeWarning; under
    # filterwarnings=error that would kill its reader thread and every later change is missed.
    _, rec = start_watcher([project])
    for i in range(5):
        (project / f"a{i}" / "b" / "c").mkdir(parents=True)
    deep = write(project / "a4" / "b" / "c" / "deep.py")
    assert str(deep) in rec.until(deep)[-1]
    rec.control(project / "app.py")


def test_overlapping_dirs_report_each_change_once(
    project: Path, start_watcher: StartWatcher
) -> None:
    (project / "pkg").mkdir()
    _, rec = start_watcher([project, project / "pkg", project], include=["*.py", "pkg/*.txt"])
    assert rec.batches.empty()
    target = write(project / "pkg" / "mod.py")
    assert rec.next() == [str(target)]
    notes = write(project / "pkg" / "notes.txt")  # matched relative to project only
    assert rec.next() == [str(notes)]


def test_rename_over_is_reported_as_the_target(project: Path, start_watcher: StartWatcher) -> None:
    _, rec = start_watcher([project])
    temp = write(project / "app.py.tmp", "app = 2\n")  # how editors save: temp file + rename
    os.replace(temp, project / "app.py")
    assert rec.next() == [str(project / "app.py")]
    os.replace(project / "app.py", project / "app.py.bak")  # moved away: the source counts
    assert rec.next() == [str(project / "app.py")]


def test_burst_of_writes_is_coalesced(project: Path, start_watcher: StartWatcher) -> None:
    _, rec = start_watcher([project])
    for i in range(20):
        write(project / "app.py", f"app = {i}\n")
    batches = rec.until(project / "app.py")
    other = write(project / "other.py")
    batches += rec.until(other)
    with_app = [b for b in batches if str(project / "app.py") in b]
    assert 1 <= len(with_app) <= 3, batches
    assert all(b == sorted(set(b)) for b in batches)


def test_excluded_and_unrelated_files_ignored(project: Path, start_watcher: StartWatcher) -> None:
    _, rec = start_watcher([project], exclude=["*_test.py", "build", "logs/*"])
    write(project / "app_test.py")
    write(project / "notes.txt")
    write(project / "server.log")
    write(project / "build" / "lib" / "copy.py")
    write(project / "logs" / "today.py")
    rec.control(project / "app.py")


@pytest.mark.parametrize(
    ("include", "relpath"),
    [
        (["*.html"], "templates/index.html"),
        (["templates/*.html"], "templates/index.html"),
        (["config/*.toml"], "config/app.toml"),
        ([".env"], ".env"),
    ],
)
def test_include_globs(
    project: Path, start_watcher: StartWatcher, include: list[str], relpath: str
) -> None:
    _, rec = start_watcher([project], include=["*.py", *include])
    target = write(project / relpath, "v = 1\n")
    assert rec.next() == [str(target)]


def test_include_is_matched_relative_to_the_watched_dir(
    project: Path, start_watcher: StartWatcher
) -> None:
    _, rec = start_watcher([project], include=["templates/*.html"])
    write(project / "static" / "index.html")  # basename matches nothing, path does not either
    rec_target = write(project / "templates" / "base.html")
    assert rec.next() == [str(rec_target)]


def test_always_ignored_files_and_dirs(project: Path, start_watcher: StartWatcher) -> None:
    write(project / "env" / "pyvenv.cfg", "home = /usr/bin\n")  # a venv with an unusual name
    _, rec = start_watcher([project], include=["*.py", "*"])
    for rel in [
        "app.cpython-311.pyc",
        "__pycache__/app.cpython-311.pyc",
        "__pycache__/x.py",
        ".git/hooks/post.py",
        ".git/index",
        ".app.py.swp",
        "app.py~",
        ".#app.py",
        "#app.py#",
        "4913",
        "x.tmp",
        ".venv/lib/mod.py",
        "venv/lib/mod.py",
        "env/lib/mod.py",
        "node_modules/pkg/x.py",
        "lib/site-packages/m.py",
        "demo.egg-info/x.py",
        ".mypy_cache/x.py",
    ]:
        write(project / rel)
    rec.control(project / "app.py")


def test_reading_many_files_produces_nothing(project: Path, start_watcher: StartWatcher) -> None:
    files = [write(project / f"pkg{i // 100}" / f"mod{i}.py") for i in range(2000)]
    _, rec = start_watcher([project])
    for f in files:
        f.read_bytes()
    rec.control(project / "app.py")


@pytest.mark.parametrize("poll", [False, True])
def test_watch_file_outside_dirs_and_patterns(
    tmp_path: Path, project: Path, start_watcher: StartWatcher, poll: bool
) -> None:
    notes = write(tmp_path / "elsewhere" / "notes.txt")
    inside = write(project / "data.txt")
    w, rec = start_watcher([project], poll=poll, poll_interval=FAST_POLL)
    w.watch_file(str(notes))
    w.watch_file(str(notes))  # idempotent
    w.watch_file(str(inside))
    write(tmp_path / "elsewhere" / "neighbour.txt")  # same directory, not asked for
    write(notes, "changed\n")
    assert rec.next() == [str(notes)]
    write(inside, "changed\n")
    assert rec.next() == [str(inside)]
    w.clear_extra_files()
    write(notes, "again\n")
    write(inside, "again\n")
    rec.control(project / "app.py")


def test_watch_file_before_start(tmp_path: Path, project: Path) -> None:
    notes = write(tmp_path / "elsewhere" / "notes.txt")
    rec = Recorder()
    w = Watcher([str(project)], on_change=rec)
    w.watch_file(str(notes))
    w.start()
    try:
        write(notes, "changed\n")
        assert rec.next() == [str(notes)]
    finally:
        w.stop()


def test_polling_backend(project: Path, start_watcher: StartWatcher) -> None:
    w, rec = start_watcher([project], poll=True, poll_interval=FAST_POLL)
    assert "poll" in w.backend
    assert w.fallback_reason is None
    write(project / "app.py", "app = 'polled, longer'\n")
    assert rec.next() == [str(project / "app.py")]
    write(project / "node_modules" / "x.py")
    write(project / "app.cpython-311.pyc")
    rec.control(project / "other.py")


def test_poller_does_not_descend_into_ignored_dirs(project: Path) -> None:
    for name in ["node_modules", ".git", "build", "src"]:
        (project / name).mkdir()
    w = Watcher([str(project)], exclude=["build"], poll=True, on_change=Recorder())
    listed = {e.name for e in w._tree.scandir(str(project))}
    assert listed == {"app.py", "src"}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EMFILE])
def test_falls_back_to_polling_on_kernel_limits(
    project: Path, start_watcher: StartWatcher, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def schedule(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    # Exhausting the real inotify limits is not safe on a shared machine: fake the failure.
    monkeypatch.setattr(f"{watcher_mod.__name__}.Observer.schedule", schedule)
    w, rec = start_watcher([project], poll_interval=FAST_POLL)
    assert "poll" in w.backend
    assert w.fallback_reason is not None
    assert w.fallback_reason.startswith("inotify ")
    assert os.strerror(code) in w.fallback_reason
    write(project / "app.py", "app = 'after fallback'\n")
    assert rec.next() == [str(project / "app.py")]


def test_falls_back_when_watch_file_hits_the_limit(
    tmp_path: Path, project: Path, start_watcher: StartWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, rec = start_watcher([project], poll_interval=FAST_POLL)
    assert w.fallback_reason is None

    def schedule(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(f"{watcher_mod.__name__}.Observer.schedule", schedule)
    notes = write(tmp_path / "elsewhere" / "notes.txt")
    w.watch_file(str(notes))
    assert "poll" in w.backend
    assert w.fallback_reason is not None
    assert "max_user_watches" in w.fallback_reason
    write(notes, "changed\n")
    assert rec.next() == [str(notes)]
    write(project / "app.py", "app = 'after fallback'\n")
    assert rec.next() == [str(project / "app.py")]


def test_falls_back_when_the_observer_cannot_be_created(
    project: Path, start_watcher: StartWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def observer() -> None:
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    monkeypatch.setattr(watcher_mod, "Observer", observer)
    w, rec = start_watcher([project], poll_interval=FAST_POLL)
    assert "poll" in w.backend
    assert w.fallback_reason is not None
    assert "instance limit" in w.fallback_reason
    write(project / "app.py", "app = 'after fallback'\n")
    assert rec.next() == [str(project / "app.py")]


def test_other_os_errors_are_not_hidden(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def schedule(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(f"{watcher_mod.__name__}.Observer.schedule", schedule)
    before = set(threading.enumerate())
    w = Watcher([str(project)], on_change=Recorder())
    with pytest.raises(WatcherError, match="Permission denied"):
        w.start()
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(WatcherError, match="no-such-dir"):
        Watcher([str(tmp_path / "no-such-dir")], on_change=Recorder())


@pytest.mark.parametrize("poll", [False, True])
def test_stop_is_idempotent_and_joins_every_thread(project: Path, poll: bool) -> None:
    before = set(threading.enumerate())
    rec = Recorder()
    w = Watcher([str(project)], poll=poll, poll_interval=FAST_POLL, on_change=rec)
    w.stop()  # before start: harmless
    w = Watcher([str(project)], poll=poll, poll_interval=FAST_POLL, on_change=rec)
    w.start()
    w.watch_file(str(project.parent / "elsewhere.txt"))
    write(project / "app.py", "app = 'x'\n")
    assert rec.next() == [str(project / "app.py")]
    assert len(set(threading.enumerate()) - before) >= 2
    w.stop()
    w.stop()
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []
    with pytest.raises(WatcherError):
        w.start()


def test_on_change_is_never_concurrent(project: Path, start_watcher: StartWatcher) -> None:
    release = threading.Event()
    active = 0
    overlaps = 0
    calls: queue.Queue[list[str]] = queue.Queue()
    lock = threading.Lock()

    def on_change(paths: list[str]) -> None:
        nonlocal active, overlaps
        with lock:
            active += 1
            overlaps += active > 1
        calls.put(paths)
        release.wait(DEADLINE)
        with lock:
            active -= 1

    w = Watcher([str(project)], on_change=on_change)
    w.start()
    try:
        write(project / "app.py", "app = 1\n")
        assert calls.get(timeout=DEADLINE) == [str(project / "app.py")]
        write(project / "second.py")  # arrives while the first callback is still running
        with pytest.raises(queue.Empty):
            calls.get(timeout=0.2)  # bounded by design: the worker is blocked in on_change
        release.set()
        assert calls.get(timeout=DEADLINE) == [str(project / "second.py")]
        assert overlaps == 0
    finally:
        release.set()
        w.stop()


def test_failing_callback_is_logged_and_watching_goes_on(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    failed = threading.Event()

    def on_change(paths: list[str]) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("boom")
        rec(paths)

    w = Watcher([str(project)], on_change=on_change)
    w.start()
    try:
        write(project / "app.py", "app = 1\n")
        assert failed.wait(DEADLINE)
        rec.control(project / "other.py")
    finally:
        w.stop()
    assert "boom" in caplog.text


def test_stop_from_inside_on_change(project: Path) -> None:
    before = set(threading.enumerate())
    done = threading.Event()
    holder: list[Watcher] = []

    def on_change(paths: list[str]) -> None:
        holder[0].stop()
        done.set()

    w = Watcher([str(project)], on_change=on_change)
    holder.append(w)
    w.start()
    write(project / "app.py", "app = 1\n")
    assert done.wait(DEADLINE)
    deadline = time.monotonic() + DEADLINE
    while [t for t in threading.enumerate() if t not in before and t.is_alive()]:
        assert time.monotonic() < deadline, threading.enumerate()
        time.sleep(0.01)  # polling a condition with a deadline: the worker is returning


# -- trailing debounce ----------------------------------------------------------------------
# The default debounce (30 ms) leaves 10-15 ms of slack over these gaps, too little on a loaded
# 2-core machine; 100 ms leaves plenty, and a window fixed at the first event still splits them.
TRAILING = 0.1


def test_writes_spread_over_more_than_the_debounce_are_one_batch(
    project: Path, start_watcher: StartWatcher
) -> None:
    # 10 writes 20 ms apart span 180 ms: a window fixed at the first event cut it into several
    # batches (several reloads, each importing a half-written tree).
    _, rec = start_watcher([project], debounce=TRAILING)
    app = project / "app.py"
    for i in range(10):
        write(app, f"app = {i}\n")
        time.sleep(0.02)  # the stimulus (a writer pausing), not a wait for the watcher
    assert rec.next() == [str(app)]
    rec.control(project / "other.py")  # no second batch for the burst was queued before it


def test_a_tree_rewritten_module_by_module_is_one_batch(
    project: Path, start_watcher: StartWatcher
) -> None:
    modules = [write(project / "pkg" / f"mod{i:02}.py") for i in range(20)]
    _, rec = start_watcher([project], debounce=TRAILING)
    for i, module in enumerate(modules):  # a formatter or `git checkout`, 15 ms per module
        write(module, f"v = {i}\n")
        time.sleep(0.015)
    assert rec.next() == [str(m) for m in modules]
    rec.control(project / "app.py")


def test_a_file_written_without_pause_is_still_reported(
    project: Path, start_watcher: StartWatcher
) -> None:
    # The trailing debounce is capped (MAX_BATCH_WAIT): a file rewritten every 5 ms, never quiet
    # for the debounce, must not starve reloads.
    _, rec = start_watcher([project], debounce=TRAILING)
    busy = project / "busy.py"
    stop = threading.Event()

    def keep_writing() -> None:
        i = 0
        while not stop.is_set():
            write(busy, f"i = {i}\n")
            i += 1
            time.sleep(0.005)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert rec.next() == [str(busy)]
        assert rec.next() == [str(busy)]
        assert writer.is_alive()  # both batches came while the writes went on
    finally:
        stop.set()
        writer.join()


# -- symlinks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("poll", [False, True])
def test_symlinked_root_is_watched_and_reported_by_real_path(
    tmp_path: Path, start_watcher: StartWatcher, poll: bool
) -> None:
    real = tmp_path / "real"
    write(real / "app.py")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    _, rec = start_watcher([link], poll=poll, poll_interval=FAST_POLL)
    write(real / "app.py", "app = 'edited through the real path'\n")
    assert rec.next() == [str(real / "app.py")]
    new = write(link / "pkg" / "mod.py")  # through the link: the same file, one real path
    assert rec.until(real / "pkg" / "mod.py")[-1] == [str(real / "pkg" / "mod.py")]
    assert new.resolve() == real / "pkg" / "mod.py"


def test_symlinked_and_real_root_are_one_root(tmp_path: Path, start_watcher: StartWatcher) -> None:
    real = tmp_path / "real"
    write(real / "app.py")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    _, rec = start_watcher([link, real])
    write(link / "app.py", "app = 2\n")
    assert rec.next() == [str(real / "app.py")]


def test_watch_file_through_a_symlinked_directory(
    tmp_path: Path, project: Path, start_watcher: StartWatcher
) -> None:
    notes = write(tmp_path / "elsewhere" / "notes.txt")
    link = tmp_path / "elsewhere-link"
    link.symlink_to(notes.parent, target_is_directory=True)
    w, rec = start_watcher([project])
    w.watch_file(str(link / "notes.txt"))
    write(notes, "changed\n")
    assert rec.next() == [str(notes)]


# -- pattern forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", ["templates", "templates/", "./templates", "./templates/", "ABS/templates"]
)
def test_include_naming_a_directory_includes_everything_below(
    project: Path, start_watcher: StartWatcher, pattern: str
) -> None:
    pattern = pattern.replace("ABS", str(project))
    _, rec = start_watcher([project], include=["*.py", pattern])
    page = write(project / "templates" / "sub" / "a.html")
    assert rec.next() == [str(page)]
    write(project / "static" / "a.html")  # not below templates/
    rec.control(project / "app.py")


@pytest.mark.parametrize("pattern", ["sub", "templates/sub", "templates/s*", "*/sub"])
def test_include_matches_any_parent_directory(
    project: Path, start_watcher: StartWatcher, pattern: str
) -> None:
    _, rec = start_watcher([project], include=[pattern])
    page = write(project / "templates" / "sub" / "deeper" / "a.html")
    assert rec.next() == [str(page)]
    write(project / "templates" / "b.html")  # above the directory that is included
    rec.control(project / "templates" / "sub" / "c.txt")


@pytest.mark.parametrize(
    "pattern", ["tests", "tests/", "./tests", "./tests/", "./tests/*", "ABS/tests", "ABS/tests/*"]
)
@pytest.mark.parametrize("poll", [False, True])
def test_exclude_pattern_forms(
    project: Path, start_watcher: StartWatcher, pattern: str, poll: bool
) -> None:
    pattern = pattern.replace("ABS", str(project))
    w, rec = start_watcher([project], exclude=[pattern], poll=poll, poll_interval=FAST_POLL)
    write(project / "tests" / "t.py")
    write(project / "tests" / "unit" / "t.py")
    rec.control(project / "app.py")
    if poll:  # nor does the poller walk what is excluded: tests/ (or, for tests/*, tests/unit/)
        top = {e.name for e in w._tree.scandir(str(project))}
        inside = {e.name for e in w._tree.scandir(str(project / "tests"))}
        assert "tests" not in top or "unit" not in inside


def test_absolute_patterns_through_a_symlink_and_only_under_their_root(
    tmp_path: Path, project: Path, start_watcher: StartWatcher
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    link = tmp_path / "project-link"
    link.symlink_to(project, target_is_directory=True)
    _, rec = start_watcher([project, other], exclude=[str(link / "tests")])
    write(project / "tests" / "t.py")
    kept = write(other / "tests" / "t.py")  # same relative path under the other root: kept
    assert rec.next() == [str(kept)]
    rec.control(project / "app.py")


@pytest.mark.parametrize("pattern", ["", ".", "./", "/", "../up/*.py", "OUT/x.py", "ABS"])
@pytest.mark.parametrize("option", ["include", "exclude"])
def test_patterns_that_can_match_nothing_are_refused(
    tmp_path: Path, project: Path, pattern: str, option: str
) -> None:
    pattern = pattern.replace("OUT", str(tmp_path / "elsewhere")).replace("ABS", str(project))
    with pytest.raises(WatcherError, match="pattern"):
        Watcher([str(project)], on_change=Recorder(), **{option: [pattern]})


def test_changed_file_names_reach_the_terminal_escaped() -> None:
    """A file name is anyone's text (an upload saved in a watched directory): the reload
    line must not carry its escape sequences to the terminal."""
    from simplewsgi.reload.paths import describe_paths

    line = describe_paths({"/srv/app/\x1b[31mRED\x1b[0m.html", "/srv/app/ok.py"})
    assert "\x1b" not in line and "\\x1b[31mRED" in line


@pytest.mark.parametrize(
    "poll, later",
    [(False, False), (False, True), (True, False), (True, True)],
    ids=["native", "later", "poll", "poll-later"],
)
def test_a_root_removed_and_made_again_is_watched_again(
    tmp_path: Path, start_watcher: StartWatcher, poll: bool, later: bool
) -> None:
    """``rm -rf dist && mkdir dist`` (a build tool's output, watched as --static or
    --reload-dir): inotify drops the watch of a directory that is gone; the new one must be
    watched, and its coming back is a change (files may be in it already). ``later``: made
    again once the watcher watches its parent for it (not at once, before it could look)."""
    import shutil

    from tests.helpers import wait_for

    root = tmp_path / "dist"
    root.mkdir()
    w, rec = start_watcher([root], include=("*.css",), poll=poll, poll_interval=FAST_POLL)
    rec.until(write(root / "a.css"))
    shutil.rmtree(root)
    if later:
        wait_for(lambda: str(tmp_path) in w._extra_watches, DEADLINE, "the parent watched")
    root.mkdir()
    if not poll:
        rec.until(root)  # watched again
        rec.until(write(root / "b.css"))
    else:  # a poll that found the root gone stops its watch; its return is then the change,
        # and a file written before the new watch's first look is in it unreported
        rec.until(write(root / "b.css"), root)
    rec.until(write(root / "c.css"))  # still watched
