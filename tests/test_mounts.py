"""simplewsgi.reload.mounts against fake mount tables (a real 9p, NFS or VirtualBox share cannot
be mounted here), and the real table of this machine (nothing to say about a tmp directory)."""

from __future__ import annotations

from pathlib import Path

from simplewsgi.reload import mounts

# Lines in /proc/self/mountinfo's form, as WSL 2, a VirtualBox guest and Docker Desktop write them.
TABLE = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/sdc rw,discard
81 27 0:60 / /mnt/c rw,noatime - 9p drvfs rw,dirsync,aname=drvfs;path=C:\\;uid=1000
90 27 0:70 / /media/sf_My\\040Project rw - vboxsf My_Project rw
95 27 0:75 / /home/me/nfs rw - nfs4 server:/export rw,vers=4.2
96 95 0:76 / /home/me/nfs/local rw - ext4 /dev/sdd rw
99 27 0:80 / /app rw - fakeowner /run/host_mark/Users rw
not a mountinfo line
"""


def _table(tmp_path: Path) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(TABLE)
    return str(path)


def test_the_mount_of_a_path_is_the_deepest_one_above_it(tmp_path: Path) -> None:
    table = mounts.mounts(_table(tmp_path))
    assert ("/media/sf_My Project", "vboxsf") in table  # \040 is a space
    assert mounts.filesystem_of("/mnt/c/proj", table) == ("/mnt/c", "9p")
    assert mounts.filesystem_of("/mnt/cd", table) == ("/", "ext4")  # not below /mnt/c
    assert mounts.filesystem_of("/home/me/nfs/local/x", table) == ("/home/me/nfs/local", "ext4")
    assert mounts.filesystem_of("/home/me/nfs", table) == ("/home/me/nfs", "nfs4")


def test_shares_are_named_and_others_are_not(tmp_path: Path) -> None:
    info = _table(tmp_path)
    dirs = ["/mnt/c/proj", "/media/sf_My Project/src", "/home/me/nfs/a", "/home/me/nfs/local",
            "/app", "/srv"]  # fmt: skip
    assert mounts.shared_roots(dirs, info) == [
        ("/mnt/c/proj", "9p"), ("/media/sf_My Project/src", "vboxsf"), ("/home/me/nfs/a", "nfs4")
    ]  # fmt: skip
    note = mounts.shared_note(["/mnt/c/proj"], info)
    assert note is not None
    assert note.startswith("/mnt/c/proj is on 9p: changes made on the other side of the share")
    assert note.endswith("use --reload-poll if an edit does not reload")
    assert mounts.shared_note(["/app", "/srv"], info) is None  # Docker Desktop forwards events


def test_the_reload_line(tmp_path: Path) -> None:
    info = _table(tmp_path)
    native = "inotify (InotifyObserver)"
    line = mounts.describe_backend(native, None, ["/mnt/c/p"], info)
    assert line == (
        f"{native} (/mnt/c/p is on 9p: changes made on the other side of the share send no file"
        " events here; use --reload-poll if an edit does not reload)"
    )
    assert mounts.describe_backend(native, None, ["/srv"], info) == native
    fell = mounts.describe_backend("polling", "why", ["/mnt/c/p"], info)
    assert fell == "polling (fell back to polling: why)"
    polling = "polling every 0.25s (PollingObserverVFS)"  # --reload-poll: nothing to add
    assert mounts.describe_backend(polling, None, ["/mnt/c/p"], info) == polling
    assert mounts.describe_backend(native, None, [str(tmp_path)]) == native  # this machine


def test_no_mount_table_says_nothing(tmp_path: Path) -> None:
    assert mounts.mounts(str(tmp_path / "none")) == []
    assert mounts.shared_note(["/mnt/c/proj"], str(tmp_path / "none")) is None
