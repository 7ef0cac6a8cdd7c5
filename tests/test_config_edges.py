"""Edges of the configuration found by review, each through the real command in a subprocess
(or in memory for a function): which listener wins when pyproject.toml, the environment and the
command line each name one, values no server can use (no host, a timeout of nan), env files
that are not plain files, a byte order mark, a huge pyproject.toml, a removed current
directory.

Servers come from the ``launch`` fixture (``tests/commandline.py``): killed by PID and reaped in
its teardown, which prints their output.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from simplewsgi import exits
from tests.commandline import DEADLINE, Server, check_error, cli_env, run_cli, write
from tests.helpers import wait_for

ENV_APP = """\
import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [os.environ.get("X", "unset").encode()]
"""
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="unix sockets, fd passing")


def table(root: Path, body: str) -> Path:
    return write(root / "pyproject.toml", "[tool.simplewsgi]\n" + body)


def serves_tcp(server: Server) -> None:
    status, body = server.get()
    assert status == 200 and body.startswith("Hello world!"), body


def serves_unix(server: Server, path: Path) -> None:
    server.wait_for(r"Press Ctrl\+C")
    assert stat.S_ISSOCK(path.stat().st_mode)


# --- defect 1: the listener is chosen by precedence, like every other option ------------------


@POSIX_ONLY
@pytest.mark.parametrize(
    ("body", "args", "env"),
    [
        ('uds = "s.sock"\n', ("--port", "0"), {}),
        ('uds = "s.sock"\n', (), {"SIMPLEWSGI_PORT": "0"}),
        ('uds = "s.sock"\nport = 0\nhost = "127.0.0.1"\n', ("--host", "127.0.0.1"), {}),
        ("fd = 3\n", ("--host", "127.0.0.1", "--port", "0"), {}),
        ("fd = 3\n", (), {"SIMPLEWSGI_PORT": "0"}),
    ],
)
def test_tcp_from_the_command_line_or_environment_wins_over_a_socket_in_the_table(
    tmp_path: Path, launch: Callable[..., Server], body: str, args: tuple[str, ...],
    env: dict[str, str],
) -> None:  # fmt: skip
    table(tmp_path, body)
    serves_tcp(launch("serve", *args, **env))
    assert not (tmp_path / "s.sock").exists()


@POSIX_ONLY
@pytest.mark.parametrize(
    ("body", "args", "env"),
    [
        ("fd = 3\n", ("--uds", "x.sock"), {}),
        ("fd = 3\nport = 0\n", (), {"SIMPLEWSGI_UDS": "x.sock"}),
        ('uds = "s.sock"\n', ("--uds", "x.sock"), {}),
        ("port = 0\n", (), {"SIMPLEWSGI_UDS": "x.sock"}),
    ],
)
def test_a_socket_from_the_command_line_or_environment_wins_over_the_table(
    tmp_path: Path, launch: Callable[..., Server], body: str, args: tuple[str, ...],
    env: dict[str, str],
) -> None:  # fmt: skip
    table(tmp_path, body)
    serves_unix(launch("serve", *args, **env), tmp_path / "x.sock")
    assert not (tmp_path / "s.sock").exists()


@POSIX_ONLY
def test_an_inherited_descriptor_wins_over_a_unix_socket_in_the_table(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    table(tmp_path, 'uds = "s.sock"\n')
    for args, env in [(("--fd", "{fd}"), {}), ((), {"SIMPLEWSGI_FD": "{fd}"})]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            fd = sock.fileno()
            server = launch(
                "serve", *(arg.format(fd=fd) for arg in args), pass_fds=(fd,),
                **{name: value.format(fd=fd) for name, value in env.items()},
            )  # fmt: skip
            server.wait_for(r"Press Ctrl\+C")
            with socket.create_connection(sock.getsockname(), timeout=10) as client:
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
            server.kill()
    assert not (tmp_path / "s.sock").exists()


@pytest.mark.parametrize(
    ("body", "args", "env", "fragments"),
    [
        ('uds = "s.sock"\nport = 0\n', (), {}, ["uds in pyproject.toml", "drop port in"]),
        ('uds = "s.sock"\nfd = 3\n', (), {}, ["uds in pyproject.toml and fd in pyproject"]),
        ("", ("--uds", "x.sock", "--port", "0"), {}, ["--uds is served", "drop --port"]),
        ("fd = 3\n", (), {"SIMPLEWSGI_UDS": "y.sock", "SIMPLEWSGI_PORT": "0"},
         ["$SIMPLEWSGI_UDS is served", "drop $SIMPLEWSGI_PORT"]),
    ],
)  # fmt: skip
def test_two_listeners_at_one_level_are_an_error_naming_them_as_given(
    tmp_path: Path, body: str, args: tuple[str, ...], env: dict[str, str], fragments: list[str]
) -> None:
    """Conflicts are between settings of the level that decides (here the highest that names
    a listener at all); an error never names what the user did not write."""
    table(tmp_path, body)
    result = run_cli("demo", *args, cwd=tmp_path, env=cli_env(**env))
    err = check_error(result, exits.USAGE, *fragments)
    assert "--fd" not in err


# --- defects 3 and 4: values no server can use are usage errors -------------------------------


@pytest.mark.parametrize(
    ("body", "args", "env", "fragment"),
    [
        ("host = []\n", (), {}, "host: needs at least one address"),
        ("", (), {"SIMPLEWSGI_HOST": " "}, "--host"),  # click >= 8.2 names the variable too
        ("", ("--timeout-header", "inf"), {}, "--timeout-header"),
        ("", ("--timeout-header", "nan"), {}, "--timeout-header"),
        ("", ("--timeout-header", "1e400"), {}, "--timeout-header"),
        ("", ("--timeout-keep-alive", "nan"), {}, "--timeout-keep-alive"),
        ("", ("--timeout-keep-alive", "86401"), {}, "--timeout-keep-alive"),
        ("", (), {"SIMPLEWSGI_TIMEOUT_HEADER": "inf"}, "--timeout-header"),
        ("timeout-header = nan\n", (), {}, "timeout-header: nan is not a number"),
        ("timeout-keep-alive = inf\n", (), {}, "timeout-keep-alive: inf is not in the range"),
    ],
)
def test_no_host_or_a_timeout_that_is_not_finite_is_a_usage_error(
    tmp_path: Path, body: str, args: tuple[str, ...], env: dict[str, str], fragment: str
) -> None:
    table(tmp_path, body)
    for command in ("serve", "demo"):
        result = run_cli(command, "--port", "0", *args, cwd=tmp_path, env=cli_env(**env))
        assert "Traceback" not in check_error(result, exits.USAGE, fragment)


def test_a_day_is_the_longest_timeout(tmp_path: Path, launch: Callable[..., Server]) -> None:
    table(tmp_path, "timeout-header = 86400\n")
    serves_tcp(launch("demo", "--port", "0", "--timeout-keep-alive", "86400"))


# --- defects 5, 7, 8: env files that are not plain text files ---------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"X=1\nFOO=a\0b\n", "e.env:2: 'FOO' holds a NUL byte"),
        (b"\0=1\n", "e.env:1:"),
        (b"X=" + b"a" * (1 << 20) + b"\n", "larger than 1 MiB"),
    ],
    ids=["nul-in-value", "nul-as-name", "over-1-MiB"],  # not the 1 MiB (PYTEST_CURRENT_TEST)
)
def test_an_env_file_no_environment_can_hold_is_one_error(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    (tmp_path / "e.env").write_bytes(content)
    result = run_cli("serve", "--port", "0", "--env-file", "e.env", cwd=tmp_path)
    check_error(result, exits.APP_ERROR, "cannot read env file", fragment)


@POSIX_ONLY
def test_a_device_is_not_an_env_file(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "0", "--env-file", "/dev/zero", cwd=tmp_path)
    check_error(result, exits.USAGE, "/dev/zero", "is not a file")


@POSIX_ONLY
@pytest.mark.parametrize("reload", [False, True])
def test_a_pipe_is_an_env_file_only_without_reload(
    tmp_path: Path, launch: Callable[..., Server], reload: bool
) -> None:
    """--env-file <(echo X=1): read once it works; the reloader reads the files at every
    reload, which a pipe cannot give twice, so that is refused up front."""
    write(tmp_path / "envapp.py", ENV_APP)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"X=piped\n")
        os.close(write_end)
        args = ["--env-file", f"/dev/fd/{read_end}", *(["--reload"] if reload else [])]
        server = launch("serve", "envapp:app", "-p", "0", *args, pass_fds=(read_end,))
    finally:
        os.close(read_end)
    if not reload:
        assert server.get() == (200, "piped")
        return
    assert server.wait() == exits.USAGE
    assert "is a pipe, which cannot be read again at each reload: give a file" in server.stderr
    assert "Traceback" not in server.stderr


# --- defect 11: --reload from a removed current directory --------------------------------------


@POSIX_ONLY
def test_reload_from_a_removed_current_directory_is_one_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = 'cd "$1" && rmdir "$1" && exec "$2" -m simplewsgi serve --reload --port 0'
    result = subprocess.run(
        ["sh", "-c", script, "sh", str(gone), sys.executable],
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    check_error(result, exits.USAGE, "the current directory was removed")


# --- defect 6: a symlinked env file, repointed ---------------------------------------------------


@POSIX_ONLY
def test_repointing_a_symlinked_env_file_reloads_and_the_new_target_counts(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    """.env -> dev.env, then ``ln -sfn prod.env .env`` (a new link renamed over the old):
    the link's own path is watched, and from then on the new target's."""
    write(tmp_path / "app" / "envapp.py", ENV_APP)
    config = tmp_path / "config"
    write(config / "dev.env", "X=dev\n")
    write(config / "prod.env", "X=prod\n")
    (config / ".env").symlink_to("dev.env")
    server = launch(
        "serve", "envapp:app", "--app-dir", "app", "-p", "0", "--reload",
        "--env-file", "config/.env",
    )  # fmt: skip
    assert server.get() == (200, "dev")
    (config / "new-link").symlink_to("prod.env")
    os.replace(config / "new-link", config / ".env")
    wait_for(lambda: server.get() == (200, "prod"), what="the new target served")
    write(config / "prod.env", "X=prod2\n")
    wait_for(lambda: server.get() == (200, "prod2"), what="the new target's change served")


# --- defect 12: how a repeatable option's variable separates its values ------------------------


def test_help_says_how_each_repeatable_options_variable_separates_values(tmp_path: Path) -> None:
    """Path options split on ':' (click's rule for paths, as PATH does), the others on spaces."""
    from simplewsgi import cli

    params = {param.name: param for param in cli.main.commands["serve"].params}
    for name in ("reload_dirs", "env_files"):
        assert "The variable separates values with ':'." in (params[name].help or "")
    for name in ("host", "reload_include", "reload_exclude", "static"):
        assert "The variable separates values with spaces." in (params[name].help or "")
    for param in params.values():
        if not param.multiple:
            assert "The variable" not in (getattr(param, "help", None) or "")
    shown = " ".join(run_cli("serve", "--help", cwd=tmp_path).stdout.split())
    assert "(default: --app-dir). The variable separates values with ':'." in shown
