"""A port in use, rescued (issue 12): ``--port auto``, and on a terminal the offer of the next
free port, answered through a pseudo-terminal with one key; an earlier simplewsgi of the same
project named with how to stop it. Off a terminal, the error stays what it was (test_cli's
``test_port_in_use_names_the_holder``).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

import click
import pytest
from click.testing import CliRunner

from simplewsgi import cli, exits
from simplewsgi.cli import commands
from simplewsgi.cli.params import PortType
from simplewsgi.cli.portrescue import _app_of, _simplewsgi_args
from simplewsgi.options import AUTO_PORT, ServeOptions
from simplewsgi.version import NAME
from tests.commandline import DEADLINE, HELLO, POSIX_ONLY, Server, cli_env, get, write

LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
DEFAULT_PORT: int = ServeOptions._field_defaults["port"]
BANNER_PORT = re.compile(rb"Local:\s+(?:\x1b\[[0-9;]*m)?http://127\.0\.0\.1:(\d+)/")
QUESTION = re.compile(rb"Use port (\d+) instead\? \[Y/n\] ")


class Terminal:
    """``python -m simplewsgi ...`` with stdin, stdout and stderr on a pseudo-terminal; what it
    writes is read as it comes, each wait with a deadline."""

    def __init__(self, args: tuple[str, ...], cwd: Path) -> None:
        master, slave = os.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simplewsgi", *args],
            cwd=cwd,
            env=cli_env(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def expect(self, pattern: re.Pattern[bytes]) -> re.Match[bytes]:
        deadline = time.monotonic() + DEADLINE
        while (match := pattern.search(self.seen)) is None:
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern.pattern!r} in:\n{self.text}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the command exited, nobody holds the terminal
                    chunk = b""
                assert chunk, (
                    f"exited ({self.proc.poll()}) before {pattern.pattern!r}:\n{self.text}"
                )
                self.seen += chunk
        return match

    def press(self, key: bytes) -> None:
        os.write(self.master, key)

    def wait(self) -> int:
        """The exit status, once the command exits (its output is read meanwhile)."""
        deadline = time.monotonic() + DEADLINE
        while self.proc.poll() is None and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.master, 4096)
        status = self.proc.wait(max(0.0, deadline - time.monotonic()) + 0.1)
        while select.select([self.master], [], [], 0)[0]:  # what it wrote just before exiting
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: the terminal's other side is closed and read out
                break
            if not data:
                break
            self.seen += data
        return status

    @property
    def text(self) -> str:
        return re.sub(r"\x1b\[[0-9;]*m", "", self.seen.decode(errors="replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE)
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    started: list[Terminal] = []

    def start(*args: str, cwd: Optional[Path] = None) -> Terminal:
        started.append(Terminal(args, cwd or tmp_path))
        return started[-1]

    yield start
    for term in started:
        term.close()
        print(f"--- on a terminal: simplewsgi (exit {term.proc.returncode})\n{term.text}")


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port held by this test (listening on 127.0.0.1)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def answer(port: int) -> tuple[int, str]:
    return get(http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE))


# --- --port auto -----------------------------------------------------------------------------


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ServeOptions]:
    """asked(*args, **env) -> the ServeOptions as parsed, before --port auto is settled."""
    seen: list[ServeOptions] = []
    monkeypatch.setattr(commands, "_serve", lambda options, console: seen.append(options))

    def parse(*args: str, **env: str) -> ServeOptions:
        result = CliRunner().invoke(cli.main, list(args), env=env)
        assert result.exit_code == exits.OK, result.output
        return seen.pop()

    return parse


def test_auto_is_accepted_by_the_option_the_variable_and_pyproject(
    asked: Callable[..., ServeOptions], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = asked
    assert parsed("demo", "--port", "auto").port == AUTO_PORT
    assert parsed("demo", "-p", "AUTO").port == AUTO_PORT
    assert parsed("demo", SIMPLEWSGI_PORT="auto").port == AUTO_PORT
    assert parsed("demo", "-p", "8123").port == 8123
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", '[tool.simplewsgi]\nport = "auto"\n')
    assert parsed("serve").port == AUTO_PORT
    write(tmp_path / "pyproject.toml", "[tool.simplewsgi]\nport = 9001\n")
    assert parsed("serve").port == 9001


@pytest.mark.parametrize(
    ("value", "message"),
    [("x", "'x' is not a port"), ("70000", "not in the range"), ("-1", "not in the range")],
)
def test_a_port_that_is_neither_a_number_nor_auto_is_a_usage_error(
    value: str, message: str
) -> None:
    result = CliRunner().invoke(cli.main, ["demo", "--port", value])
    assert result.exit_code == exits.USAGE
    assert message in result.output, result.output


def test_pyproject_says_what_port_takes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", "[tool.simplewsgi]\nport = true\n")
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == exits.USAGE
    assert 'port: expected an integer or "auto", got a boolean (true)' in result.output


def test_auto_is_completed() -> None:
    ctx = click.Context(cli.main)
    param = click.Option(["--port"])
    assert [item.value for item in PortType().shell_complete(ctx, param, "a")] == ["auto"]
    assert PortType().shell_complete(ctx, param, "8") == []


def test_auto_takes_the_next_free_port_when_the_default_is_in_use(
    launch: Callable[..., Server],
) -> None:
    """The test holds the default port (or someone else does): auto takes a port above it,
    free on the host, serves there, and the banner says why."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", DEFAULT_PORT))
            holder.listen()
            ours = True
        except OSError:  # held already: by whom does not matter
            ours = False
        server = launch("demo", "--port", "auto")
        _, port = server.address
        assert DEFAULT_PORT < port < DEFAULT_PORT + 100
        note = server.wait_for(r"Port:\s+(\d+) \(--port auto: (\d+) is in use[^\n]*\)")
        assert (int(note.group(1)), int(note.group(2))) == (port, DEFAULT_PORT)
        if ours and sys.platform.startswith("linux"):
            assert f"by PID {os.getpid()} (" in note.group(0)
        assert server.get()[0] == 200
    assert server.stop() == exits.OK


# --- the offer, on a terminal ----------------------------------------------------------------


@POSIX_ONLY
@pytest.mark.parametrize("reload", [(), ("--reload",)], ids=["plain", "reload"])
def test_enter_accepts_the_next_free_port(
    terminal: Callable[..., Terminal], held_port: int, tmp_path: Path, reload: tuple[str, ...]
) -> None:
    write(tmp_path / "hello.py", HELLO)
    term = terminal("serve", "hello:app", "--port", str(held_port), *reload)
    offered = int(term.expect(QUESTION).group(1))
    assert offered > held_port
    assert f"Error: port {held_port} is already in use" in term.text
    if sys.platform.startswith("linux"):
        assert f"by PID {os.getpid()} (" in term.text
    assert "earlier simplewsgi" not in term.text  # the holder is this test, not a server
    term.press(b"\r")
    assert int(term.expect(BANNER_PORT).group(1)) == offered
    assert answer(offered) == (200, "hello from hello")
    term.proc.send_signal(2)
    assert term.wait() == exits.OK


@POSIX_ONLY
@pytest.mark.parametrize("key", [b"n", b"N", b"\x04", b"q"])
def test_any_other_key_refuses_and_exits_as_before(
    terminal: Callable[..., Terminal], held_port: int, key: bytes
) -> None:
    term = terminal("demo", "--port", str(held_port))
    term.expect(QUESTION)
    term.press(key)
    assert term.wait() == exits.CANNOT_LISTEN
    assert term.text.rstrip().endswith("[Y/n] n")
    assert "Local:" not in term.text
    assert term.text.count("Error:") == 1


@POSIX_ONLY
def test_the_offered_port_is_free_on_every_host(
    terminal: Callable[..., Terminal], held_port: int
) -> None:
    """With localhost (127.0.0.1 and ::1), the next port held on ::1 only is passed over."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    with socket.socket(socket.AF_INET6) as six:
        try:
            six.bind(("::1", held_port + 1))
        except OSError as error:
            pytest.skip(f"cannot hold [::1]:{held_port + 1}: {error}")
        six.listen()
        term = terminal("demo", "--host", "localhost", "--port", str(held_port))
        offered = int(term.expect(QUESTION).group(1))
        assert offered > held_port + 1
        term.press(b"y")
        term.expect(re.compile(rb"Local:.*:%d/" % offered))
        assert answer(offered)[0] == 200


@POSIX_ONLY
@LINUX_ONLY
@pytest.mark.parametrize("reload", [(), ("--reload",)], ids=["plain", "reload"])
def test_an_earlier_server_of_the_same_project_is_named_with_how_to_stop_it(
    launch: Callable[..., Server],
    terminal: Callable[..., Terminal],
    tmp_path: Path,
    reload: tuple[str, ...],
) -> None:
    write(tmp_path / "hello.py", HELLO)
    first = launch("serve", "hello:app", "--port", "0", *reload)
    _, port = first.address
    term = terminal("serve", "hello:app", "--port", str(port))
    term.expect(QUESTION)
    pid = first.proc.pid  # the command itself: under --reload, its supervisor, not a worker
    assert (
        f"Info: PID {pid} is an earlier {NAME} for this project (started in this directory); "
        f"stop it with: kill {pid}"
    ) in term.text
    term.press(b"n")
    assert term.wait() == exits.CANNOT_LISTEN
    assert first.get()[0] == 200  # untouched


@POSIX_ONLY
@LINUX_ONLY
def test_the_same_file_app_from_another_directory_is_the_same_project(
    launch: Callable[..., Server], terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    write(tmp_path / "proj" / "webapp.py", HELLO)
    (tmp_path / "elsewhere").mkdir()
    first = launch("serve", "../proj/webapp.py", "--port", "0", cwd=tmp_path / "elsewhere")
    _, port = first.address
    term = terminal("serve", "webapp.py", "-p", str(port), cwd=tmp_path / "proj")
    term.expect(QUESTION)
    pid = first.proc.pid
    assert (
        f"PID {pid} is an earlier {NAME} for this project (serving the same APP, webapp.py); "
        f"stop it with: kill {pid}"
    ) in term.text
    term.press(b"n")
    assert term.wait() == exits.CANNOT_LISTEN


@POSIX_ONLY
@LINUX_ONLY
def test_another_project_is_not_called_the_same(
    launch: Callable[..., Server], terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    write(tmp_path / "one" / "hello.py", HELLO)
    write(tmp_path / "two" / "hello.py", HELLO)
    first = launch("serve", "hello:app", "--port", "0", cwd=tmp_path / "one")
    _, port = first.address
    term = terminal("serve", "hello:app", "-p", str(port), cwd=tmp_path / "two")
    term.expect(QUESTION)
    assert f"by PID {first.proc.pid} (" in term.text
    assert "earlier" not in term.text
    term.press(b"n")
    assert term.wait() == exits.CANNOT_LISTEN


def test_a_command_line_is_read_for_simplewsgi_and_its_app() -> None:
    python = "/usr/bin/python3"
    assert _simplewsgi_args([python, "-m", "simplewsgi", "serve", "a:b"]) == ["serve", "a:b"]
    assert _simplewsgi_args(["/venv/bin/simplewsgi", "demo"]) == ["demo"]
    assert _simplewsgi_args([python, "/venv/bin/simplewsgi", "serve"]) == ["serve"]
    assert _simplewsgi_args([python, "-m", "http.server"]) is None
    with click.Context(cli.main):
        assert _app_of(["serve", "-p", "8000", "--reload", "app:app"]) == ("app:app", ".")
        assert _app_of(["serve", "--app-dir", "src", "--port=1", "x.py"]) == ("x.py", "src")
        assert _app_of(["serve", "--host", "h", "--", "m:app"]) == ("m:app", ".")
        assert _app_of(["demo", "-p", "1"]) == (None, ".")


def test_at_the_last_port_there_is_no_range_to_speak_of(capsys: pytest.CaptureFixture[str]) -> None:
    """65535 taken: nothing above it to offer, and no "from 65536 to 65535" said."""
    from simplewsgi.cli.portrescue import offer
    from simplewsgi.console import Console
    from simplewsgi.listen import port_in_use

    with socket.socket() as held:
        try:
            held.bind(("127.0.0.1", 65535))
        except OSError:
            pytest.skip("port 65535 is in use here")
        held.listen()
        options = ServeOptions(host=("127.0.0.1",), port=65535)
        assert offer(options, port_in_use("127.0.0.1", 65535), Console(color=False)) is None
    err = capsys.readouterr().err
    assert "port 65535 is already in use" in err and "65536" not in err
