"""Which watched directories live on a share whose other side sends no file events (WSL's
``/mnt/c``, VirtualBox and VMware shares, NFS, SMB, sshfs): the banner says so.

Rules, and why:

- The start-up probe (:mod:`.probe`) cannot catch these: a change made *here* goes through this
  kernel, which tells inotify about it on any filesystem. What never arrives are the changes
  made on the other side (the Windows editor on ``/mnt/c``, the host of a VM share, another NFS
  client), so the probe passes and the reloader would silently miss every edit.
- They are not polled by themselves: an NFS home edited on this machine gets its events, and
  polling a large 9p tree is slow. The banner names the mount and ``--reload-poll`` instead.
  Docker Desktop's shares (``virtiofs``, ``fuse.grpcfuse``, ``fakeowner``) forward the host's
  events, so they are not listed.
- Linux only: the mount table is ``/proc/self/mountinfo`` (a parameter, so that tests pass a
  fake one); elsewhere there is none and nothing is said. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Optional

MOUNTINFO = "/proc/self/mountinfo"
#: Filesystem types whose files may change on the other side of a share, without an event here.
SHARED_TYPES = frozenset({
    "9p", "drvfs", "vboxsf", "vmhgfs", "fuse.vmhgfs-fuse", "prl_fs", "nfs", "nfs4", "cifs",
    "smb3", "smbfs", "fuse.sshfs", "afs", "ceph", "glusterfs", "fuse.glusterfs",
})  # fmt: skip


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def mounts(mountinfo: str = MOUNTINFO) -> list[tuple[str, str]]:
    """``(mount point, filesystem type)`` of each mount, in the table's order."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    table = []
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if sep and len(fields) >= 5 and right.split():
            table.append((_unescape(fields[4]), right.split()[0]))
    return table


def filesystem_of(path: str, table: list[tuple[str, str]]) -> Optional[tuple[str, str]]:
    """The mount holding ``path`` (a real path): the deepest mount point above it, the last
    one mounted there when several are (it hides the others)."""
    best: Optional[tuple[str, str]] = None
    for point, fstype in table:
        prefix = point.rstrip("/") + "/"
        if (path == point or path.startswith(prefix)) and (
            best is None or len(point) >= len(best[0])
        ):
            best = (point, fstype)
    return best


def shared_roots(dirs: Iterable[str], mountinfo: str = MOUNTINFO) -> list[tuple[str, str]]:
    """``(directory, filesystem type)`` of each watched directory on a share of
    :data:`SHARED_TYPES`."""
    table = mounts(mountinfo)
    found = []
    for directory in dirs:
        mount = filesystem_of(os.path.realpath(directory), table)
        if mount is not None and mount[1] in SHARED_TYPES:
            found.append((directory, mount[1]))
    return found


def shared_note(dirs: Iterable[str], mountinfo: str = MOUNTINFO) -> Optional[str]:
    """The banner's words for the watched directories on a share, or None."""
    found = shared_roots(dirs, mountinfo)
    if not found:
        return None
    where = ", ".join(f"{directory} is on {fstype}" for directory, fstype in found)
    return (
        f"{where}: changes made on the other side of the share send no file events here;"
        " use --reload-poll if an edit does not reload"
    )


def describe_backend(
    backend: str, fallback_reason: Optional[str], dirs: Iterable[str], mountinfo: str = MOUNTINFO
) -> str:
    """The banner's ``Reload:`` line: the backend, why it polls, or which share to mind."""
    if fallback_reason:
        return f"{backend} (fell back to polling: {fallback_reason})"
    note = None if backend.startswith("polling") else shared_note(dirs, mountinfo)
    return f"{backend} ({note})" if note else backend
