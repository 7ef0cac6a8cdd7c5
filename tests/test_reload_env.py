"""``serve --reload`` where file events are unreliable, end to end: the start-up probe, a burst
of changes, git's index lock. Real processes, real files; every count read from the output with
a deadline, every "no reload" closed by a positive control.

A mount whose events never arrive (NFS, 9p, a VM share) cannot be made here without root and
FUSE: the deaf case runs the real command with a ``sitecustomize`` that makes watchdog's real
inotify emitter read nothing, the kernel's silence one level up. No hook in the product.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from simplewsgi.reload.filters import PROBE_PREFIX
from simplewsgi.reload.gitlock import HOLD_LIMIT
from tests.helpers import wait_for
from tests.test_reloader import APP, RELOADED_RE, Server, serve, write

__all__ = ["serve"]  # test_reloader's fixture: servers in tmp_path, killed after

RELOAD_LINE = re.compile(r"Reload: +(.*)")
STALE = re.compile(r"Warning: (.*) is still there after 10 s .*: reloading anyway")
HOLDING = re.compile(r"Info: git is at work \((.*)\): the reload waits for it")
DEAF_INOTIFY = """\
import time
from watchdog.observers import inotify

def _deaf(self, timeout, **kwargs):
    time.sleep(timeout)  # nothing ever arrives

inotify.InotifyEmitter.queue_events = _deaf
"""


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob(f"{PROBE_PREFIX}*")]


def test_the_probe_hears_inotify_and_leaves_nothing_behind(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """``*``: the probe's file would match the patterns; it must not reload anyway."""
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app", "--reload-include", "*")
    backend = server.wait_line(RELOAD_LINE).group(1)
    assert backend.startswith("inotify") and "fell back" not in backend
    assert server.get()[2] == "one"
    assert _leftovers(tmp_path) == []
    write(tmp_path / "app.py", APP.format(version="two"))  # positive control
    server.wait_body("two")
    server.wait_line(RELOADED_RE)
    assert [m.group(2) for m in server.lines(RELOADED_RE)] == ["app.py"]


def test_a_root_without_file_events_is_polled_and_the_banner_says_why(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    write(tmp_path / "site" / "sitecustomize.py", DEAF_INOTIFY)
    project = tmp_path / "project"
    write(project / "app.py", APP.format(version="one"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    server = serve("app:app", "--app-dir", str(project), "--reload-dir", str(project), env=env)
    backend = server.wait_line(RELOAD_LINE).group(1)
    assert backend.startswith("polling every"), backend
    assert f"fell back to polling: no file events from {project.resolve()} within 1 s" in backend
    assert _leftovers(project) == []
    write(project / "app.py", APP.format(version="two"))  # the poller hears it
    server.wait_body("two")
    server.wait_line(RELOADED_RE)
    assert [m.group(2) for m in server.lines(RELOADED_RE)] == ["project/app.py"]


def test_a_burst_of_fifty_files_is_one_reload(tmp_path: Path, serve: Callable[..., Server]) -> None:
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app")
    assert server.get()[2] == "one"
    for i in range(50):  # a formatter, a checkout: one file after another, no pause
        write(tmp_path / "pkg" / f"mod{i:02}.py", f"VALUE = {i}\n")
    first = server.wait_line(RELOADED_RE)
    assert first.group(2).endswith("and 47 more"), first.group(0)
    write(tmp_path / "app.py", APP.format(version="two"))  # positive control
    server.wait_line(RELOADED_RE, 2)
    changed = [m.group(2) for m in server.lines(RELOADED_RE)]
    assert changed == [first.group(2), "app.py"], server.output


def test_no_reload_while_git_holds_its_index_lock(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    (tmp_path / ".git").mkdir()
    lock = tmp_path / ".git" / "index.lock"
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app")
    assert server.get()[2] == "one"
    lock.touch()  # git checkout begins, and rewrites the tree
    write(tmp_path / "helpers.py", "X = 1\n")
    write(tmp_path / "app.py", APP.format(version="two"))
    assert server.wait_line(HOLDING).group(1) == f"{lock.resolve()} exists"
    assert server.get()[2] == "one"  # the changes were seen, and held
    lock.unlink()  # git is done
    server.wait_body("two")
    server.wait_line(RELOADED_RE)
    assert [m.group(2) for m in server.lines(RELOADED_RE)] == ["app.py, helpers.py"]
    write(tmp_path / "app.py", APP.format(version="three"))  # no lock: reloads at once
    server.wait_body("three")
    server.wait_line(RELOADED_RE, 2)
    assert len(server.lines(RELOADED_RE)) == 2 and len(server.lines(HOLDING)) == 1


def test_the_lock_of_a_git_worktree_is_found_through_its_gitdir_file(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    gitdir = tmp_path / "repo.git" / "worktrees" / "project"
    gitdir.mkdir(parents=True)
    project = tmp_path / "project"
    write(project / ".git", f"gitdir: {gitdir}\n")
    write(project / "app.py", APP.format(version="one"))
    server = serve("app:app", "--app-dir", str(project), "--reload-dir", str(project))
    assert server.get()[2] == "one"
    (gitdir / "index.lock").touch()
    write(project / "app.py", APP.format(version="two"))
    server.wait_line(HOLDING)
    assert server.get()[2] == "one"
    (gitdir / "index.lock").unlink()
    server.wait_body("two")


def test_a_lock_that_stays_reloads_anyway_after_the_limit_and_says_why(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """A git command waiting for its editor, or a lock left by a crash: ~10 s, once."""
    (tmp_path / ".git").mkdir()
    lock = tmp_path / ".git" / "index.lock"
    lock.touch()
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app")
    assert server.get()[2] == "one"
    write(tmp_path / "app.py", APP.format(version="two"))
    server.wait_line(HOLDING)
    wait_for(lambda: server.lines(STALE), HOLD_LIMIT + 10.0, "the warning after the limit")
    assert server.lines(STALE)[0].group(1) == str(lock.resolve())
    server.wait_body("two")
    write(tmp_path / "app.py", APP.format(version="three"))  # the stale lock holds nothing
    server.wait_body("three")
    server.wait_line(RELOADED_RE, 2)
    assert len(server.lines(HOLDING)) == 1 and len(server.lines(STALE)) == 1
