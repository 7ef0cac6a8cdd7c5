"""Whether this process runs in a container: the banner says so when the server listens only
on loopback, which the host (or any other machine) cannot reach through the container's port
mapping.

Rules, and why:

- Only cheap, local signs, read from the filesystem (a few ``stat`` calls and one small file
  under ``/proc``): ``/.dockerenv`` (Docker), ``/run/.containerenv`` (Podman, Buildah),
  ``/proc/1/cgroup`` naming a container runtime (docker, containerd, kubepods, libpod, lxc),
  ``/proc/1/environ``'s ``container=`` (systemd-nspawn, LXC). No subprocess, no network.
- The filesystem root is a parameter, so that tests point it at a directory of fake files.
- A development container whose editor forwards ports from inside it (VS Code's Dev
  Containers, GitHub Codespaces: they set ``REMOTE_CONTAINERS`` or ``CODESPACES``) reaches
  loopback fine: no hint there.

Standard library only (the banner of plain serving asks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional

MARKER_FILES = (".dockerenv", os.path.join("run", ".containerenv"))
CGROUP_HINTS = ("docker", "containerd", "kubepods", "libpod", "lxc")
#: Set by editors that forward ports from inside the container (they reach its loopback).
FORWARDING_ENV = ("REMOTE_CONTAINERS", "CODESPACES")
_READ_LIMIT = 1 << 16


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(_READ_LIMIT).decode("utf-8", "replace")
    except OSError:
        return ""


def container_sign(root: str = os.sep) -> Optional[str]:
    """What says this process runs in a container (``"/.dockerenv"``, ``"cgroup: docker"``),
    or None. ``root`` is the filesystem root to look in."""
    for name in MARKER_FILES:
        if os.path.exists(os.path.join(root, name)):
            return os.sep + name
    proc1 = os.path.join(root, "proc", "1")
    cgroup = _read(os.path.join(proc1, "cgroup"))
    for hint in CGROUP_HINTS:
        if hint in cgroup:
            return f"/proc/1/cgroup names {hint}"
    for entry in _read(os.path.join(proc1, "environ")).split("\0"):
        if entry.startswith("container=") and entry != "container=":
            return f"/proc/1/environ has {entry}"
    return None


def loopback_hint(root: str = os.sep, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The banner's line for a server bound only to loopback, or None outside a container."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in FORWARDING_ENV):
        return None
    sign = container_sign(root)
    if sign is None:
        return None
    return (
        f"running in a container ({sign}): the host cannot reach a server listening on "
        "loopback only; to publish the port, listen on every interface with --host 0.0.0.0"
    )
