"""The banner's hint for a server in a container bound to loopback only: the detection against
fake filesystem roots, and the real command's banner on this machine (whatever it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from simplewsgi import container
from tests.commandline import Server, write

QUIT = "Press Ctrl\\+C to quit"
HINT = "the host cannot reach a server listening on loopback only"


@pytest.mark.parametrize(
    ("files", "sign"),
    [
        ({".dockerenv": ""}, "/.dockerenv"),
        ({"run/.containerenv": "engine=podman\n"}, "/run/.containerenv"),
        ({"proc/1/cgroup": "0::/system.slice/docker-0123abcd.scope\n"}, "cgroup names docker"),
        ({"proc/1/cgroup": "12:pids:/kubepods/burstable/pod1/abc\n"}, "cgroup names kubepods"),
        ({"proc/1/environ": "PATH=/bin\0container=lxc\0"}, "environ has container=lxc"),
    ],
)
def test_each_sign_of_a_container_is_found(
    tmp_path: Path, files: dict[str, str], sign: str
) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    found = container.container_sign(str(tmp_path))
    assert found is not None and sign in found
    hint = container.loopback_hint(str(tmp_path), environ={})
    assert hint is not None and sign in hint and "--host 0.0.0.0" in hint


def test_a_plain_machine_is_no_container(tmp_path: Path) -> None:
    write(tmp_path / "proc/1/cgroup", "0::/init.scope\n")
    write(tmp_path / "proc/1/environ", "PATH=/bin\0container=\0HOME=/root\0")
    assert container.container_sign(str(tmp_path)) is None
    assert container.loopback_hint(str(tmp_path), environ={}) is None
    assert container.container_sign(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("name", container.FORWARDING_ENV)
def test_an_editor_that_forwards_ports_needs_no_hint(tmp_path: Path, name: str) -> None:
    write(tmp_path / ".dockerenv", "")
    assert container.loopback_hint(str(tmp_path), environ={name: "true"}) is None
    assert container.loopback_hint(str(tmp_path), environ={name: ""}) is not None


def test_the_banner_says_it_on_loopback_only_in_a_container(
    launch: Callable[..., Server],
) -> None:
    """The real command, on this machine: the hint iff this machine is a container (the
    development and CI machines of this project are Docker containers), never on 0.0.0.0."""
    in_container = container.container_sign() is not None
    local = launch("demo", "--port", "0", "--color", "never")
    local.wait_for(QUIT)  # the banner's last line
    lines = [line for line in local.plain.splitlines() if HINT in line]
    assert len(lines) == (1 if in_container else 0), local.plain
    if in_container:
        assert lines[0].startswith("Info: running in a container (")
        assert "--host 0.0.0.0" in lines[0]
    everywhere = launch("demo", "--port", "0", "--host", "0.0.0.0", "--color", "never")
    everywhere.wait_for(QUIT)
    assert HINT not in everywhere.plain
    forwarded = launch("demo", "--port", "0", "--color", "never", REMOTE_CONTAINERS="true")
    forwarded.wait_for(QUIT)
    assert HINT not in forwarded.plain
