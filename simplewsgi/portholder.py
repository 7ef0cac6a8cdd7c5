"""Who holds an address we could not take: "PID 123 (python app.py)", or None.

Linux only (``/proc``): a listening socket is found by its inode in ``/proc/net/tcp{,6}`` or
``/proc/net/unix``, then the process with a descriptor on that inode. Processes of other users
are usually unreadable; then we say nothing rather than guess. :func:`process` reads a
holder's command line, working directory and parent, so that the CLI can tell an earlier
simplewsgi of the same project from a stranger.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Callable, NamedTuple, Optional

MAX_SHOWN_COMMAND = 200  # of the holder's command line: enough to recognise it
_TCP_LISTEN = "0A"  # the st column of /proc/net/tcp for LISTEN
_UNIX_ACCEPTING = 0x10000  # __SO_ACCEPTCON in the Flags column of /proc/net/unix


class Process(NamedTuple):
    """A process as /proc shows it (to its owner)."""

    pid: int
    argv: list[str]
    cwd: Optional[str]  # None when unreadable
    ppid: Optional[int]


def socket_holder(host: str, port: int) -> Optional[str]:
    """The process listening on TCP ``host:port``, described: the one on that very address if
    there is one, else another on that port (a wildcard conflicts with every address). Never
    this process: with several hosts, its own sockets on the port are not the obstacle."""
    pid = socket_holder_pid(host, port)
    return describe(pid) if pid is not None else None


def socket_holder_pid(host: str, port: int) -> Optional[int]:
    """The PID of :func:`socket_holder`'s process."""
    wanted = _proc_address(host)
    exact: set[str] = set()
    same_port: set[str] = set()
    for line in _table("tcp") + _table("tcp6"):
        fields = line.split()
        if len(fields) <= 9 or fields[3] != _TCP_LISTEN:
            continue
        address, _, hex_port = fields[1].rpartition(":")  # HEXIP:HEXPORT
        if int(hex_port, 16) == port:
            (exact if address == wanted else same_port).add(fields[9])
    return _holder(exact) or _holder(same_port)


def describe(pid: int) -> Optional[str]:
    """``PID 123 (its command line)``, on one line and cut; None if it is gone."""
    found = process(pid)
    if found is None:
        return None
    cmdline = " ".join(" ".join(found.argv).split())  # one line, always
    return f"PID {pid} ({cmdline[:MAX_SHOWN_COMMAND]})"


def process(pid: int) -> Optional[Process]:
    """What /proc says of ``pid``; None if it is gone or not ours to read."""
    proc = Path("/proc", str(pid))
    try:
        raw = (proc / "cmdline").read_bytes().decode(errors="replace")
        stat = (proc / "stat").read_text()
    except OSError:
        return None
    try:
        cwd: Optional[str] = os.readlink(proc / "cwd")
    except OSError:
        cwd = None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state, ppid, ...
    ppid = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    argv = (raw[:-1] if raw.endswith("\0") else raw).split("\0")
    return Process(pid, argv, cwd, ppid)


def _proc_address(host: str) -> Optional[str]:
    """``host`` as /proc/net/tcp{,6} writes it: 32-bit words in host byte order, in hex."""
    try:
        packed = ipaddress.ip_address(host or "0.0.0.0").packed
    except ValueError:
        return None  # a name
    words = [packed[i : i + 4] for i in range(0, len(packed), 4)]
    return "".join(f"{int.from_bytes(word, sys.byteorder):08X}" for word in words)


def unix_socket_holder(path: str) -> Optional[str]:
    """The process listening on the unix socket at ``path`` (absolute), described. The
    kernel's table shows a path as it was bound: a relative one is the holder's, read from
    its current directory."""
    exact: set[str] = set()
    relative: dict[str, str] = {}  # inode -> the path as bound
    for line in _table("unix"):
        fields = line.split(maxsplit=7)
        if len(fields) < 8 or not int(fields[3], 16) & _UNIX_ACCEPTING:
            continue
        bound = fields[7]
        if bound == path:
            exact.add(fields[6])
        elif bound[:1] not in ("/", "@") and os.path.basename(bound) == os.path.basename(path):
            relative[fields[6]] = bound

    def from_its_directory(proc: Path, inode: str) -> bool:
        return os.path.join(os.readlink(proc / "cwd"), relative[inode]) == path

    pid = _holder(exact) or _holder(set(relative), from_its_directory)
    return describe(pid) if pid is not None else None


def _table(name: str) -> list[str]:
    try:
        return Path("/proc/net", name).read_text().splitlines()[1:]
    except OSError:
        return []


def _holder(
    inodes: set[str], confirm: Optional[Callable[[Path, str], bool]] = None
) -> Optional[int]:
    """The lowest PID with a descriptor on one of ``inodes`` (and, with ``confirm``, for which
    ``confirm(its /proc directory, the inode)`` holds): a reloader's supervisor rather than
    the workers that inherited its sockets (they are younger, unless PIDs wrapped)."""
    if not inodes:
        return None
    targets = {f"socket:[{inode}]": inode for inode in inodes}
    me = os.getpid()
    pids = sorted(int(proc.name) for proc in Path("/proc").iterdir() if proc.name.isdigit())
    for pid in pids:
        if pid == me:
            continue
        proc = Path("/proc", str(pid))
        try:
            for fd in (proc / "fd").iterdir():
                inode = targets.get(os.readlink(fd))
                if inode is not None and (confirm is None or confirm(proc, inode)):
                    return pid
        except OSError:
            continue
    return None
