"""simplewsgi.reload.gitlock: which locks, and the hold-and-release bookkeeping with a test clock
(the supervisor's loop passes ``now``; the end-to-end tests are in test_reload_env)."""

from __future__ import annotations

import os
from pathlib import Path

from simplewsgi.reload.gitlock import CHECK_EVERY, NOTICE_AFTER, GitLockGate, git_dir, index_locks


def test_the_repository_is_found_upwards_and_through_a_gitdir_file(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "src" / "pkg").mkdir(parents=True)
    assert git_dir(str(tmp_path / "repo" / "src" / "pkg")) == str(tmp_path / "repo" / ".git")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: ../repo/.git/worktrees/wt\n")
    assert git_dir(str(worktree)) == str(worktree / "../repo/.git/worktrees/wt")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / ".git").write_text("not a gitdir line\n")
    assert git_dir(str(tmp_path / "odd")) is None
    locks = index_locks([str(tmp_path / "repo"), str(tmp_path / "repo" / "src"), str(worktree)])
    assert locks == (
        str(tmp_path / "repo" / ".git" / "index.lock"),
        str(worktree / "../repo/.git/worktrees/wt" / "index.lock"),
    )


def test_no_lock_no_hold(tmp_path: Path) -> None:
    gate = GitLockGate((str(tmp_path / "index.lock"),))
    assert not gate.hold({"a.py"}, now=0.0)
    assert not gate.holding and gate.due() is None and gate.poll(1.0) is None


def test_changes_are_held_while_the_lock_exists_and_released_once(tmp_path: Path) -> None:
    lock = tmp_path / "index.lock"
    lock.touch()
    gate = GitLockGate((str(lock),), limit=10.0)
    assert gate.hold({"a.py"}, now=0.0)
    assert gate.hold({"b.py"}, now=0.2)  # held on top
    assert gate.holding and gate.due() == CHECK_EVERY
    assert gate.poll(0.0) is None  # not due yet
    assert gate.poll(0.1) is None  # still locked, too short to say so
    notice = gate.poll(NOTICE_AFTER)
    assert notice == (frozenset(), f"git is at work ({lock} exists): the reload waits for it")
    assert gate.poll(NOTICE_AFTER + 1.0) is None  # said once
    lock.unlink()
    assert gate.poll(NOTICE_AFTER + 1.0 + CHECK_EVERY / 2) is None  # not due yet
    assert gate.poll(NOTICE_AFTER + 1.0 + CHECK_EVERY) == (frozenset({"a.py", "b.py"}), "")
    assert not gate.holding and gate.poll(5.0) is None


def test_a_short_lock_is_not_announced(tmp_path: Path) -> None:
    """``git status`` after a save takes the lock for milliseconds."""
    lock = tmp_path / "index.lock"
    lock.touch()
    gate = GitLockGate((str(lock),))
    assert gate.hold({"a.py"}, now=0.0)
    lock.unlink()
    assert gate.poll(CHECK_EVERY) == (frozenset({"a.py"}), "")


def test_a_lock_that_stays_too_long_reloads_anyway_and_is_then_ignored(tmp_path: Path) -> None:
    lock = tmp_path / "index.lock"
    lock.touch()
    gate = GitLockGate((str(lock),), limit=10.0)
    assert gate.hold({"a.py"}, now=0.0)
    assert gate.poll(NOTICE_AFTER) is not None  # the notice
    assert gate.poll(9.9) is None
    released = gate.poll(10.0)
    assert released is not None and released[0] == frozenset({"a.py"})
    assert str(lock) in released[1] and "after 10 s" in released[1]
    assert not gate.hold({"b.py"}, now=11.0) and not gate.holding  # stale: no more holds
    lock.unlink()
    lock.touch()
    os.utime(lock, ns=(1, 1))  # a new git command's lock (another mtime)
    assert gate.hold({"c.py"}, now=12.0)
