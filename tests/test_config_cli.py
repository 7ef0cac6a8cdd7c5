"""``[tool.simplewsgi]`` and ``--env-file`` through the real command, in subprocesses on real
ports: the app pyproject.toml names, each step of the precedence, runs from a subdirectory,
every kind of mistake, and env files seen by the app, plainly and across reloads.

Servers come from the ``launch`` fixture (``tests/commandline.py``): killed by PID and reaped in
its teardown, which prints their output.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from simplewsgi import exits
from tests.commandline import HELLO, Server, cli_env, run_cli, write
from tests.helpers import wait_for
from tests.test_cli import check_error

# GET /NAME answers os.environ[NAME] (or "unset"); /import what X was when the app was imported,
# /both X now and then; /modules whether python-dotenv is loaded.
ENV_APP = """\
import os, sys

X_AT_IMPORT = os.environ.get("X", "unset")

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/import":
        body = X_AT_IMPORT
    elif path == "/both":  # one response: during a swap two workers answer
        body = os.environ.get("X", "unset") + " " + X_AT_IMPORT
    elif path == "/modules":
        body = str("dotenv" in sys.modules)
    else:
        body = os.environ.get(path.strip("/") or "X", "unset")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""
RELOADED = r"reloaded in \d+ ms \(changed: [^)]*{name}\)"
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="the reloader is POSIX only")


def project(root: Path, table: str, **files: str) -> Path:
    """``root/pyproject.toml`` holding ``table`` (the body of [tool.simplewsgi]), and files."""
    write(root / "pyproject.toml", "[project]\nname = 'demo'\n\n[tool.simplewsgi]\n")
    with (root / "pyproject.toml").open("a") as file:
        file.write(textwrap.dedent(table))
    for name, text in files.items():
        write(root / name.replace("__", "/"), text)
    return root / "pyproject.toml"


def body_of(server: Server, path: str = "/") -> str:
    status, body = server.get(path)
    assert status == 200, body
    return body


def port_of(server: Server) -> int:
    return server.address[1]


# --- pyproject.toml: what it sets -------------------------------------------------------------


def test_serve_without_app_serves_the_pyproject_app(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(tmp_path, 'app = "hello:app"\nport = 0\naccess-log = false\n', **{"hello.py": HELLO})
    server = launch("serve")
    assert body_of(server) == "hello from hello"
    assert "serving hello:app" in server.stderr
    assert port_of(server) != 8000  # port = 0 from the table, not the built-in 8000
    assert server.stop() == exits.OK
    assert " GET / " not in server.stderr  # access-log = false


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, (), "one"),  # pyproject over the built-in default (the demo app)
        ({"SIMPLEWSGI_APP": "two:app"}, (), "two"),  # environment over pyproject
        ({"SIMPLEWSGI_APP": "two:app"}, ("three:app",), "three"),  # command line over both
        ({}, ("three:app",), "three"),
    ],
)
def test_app_precedence(
    tmp_path: Path,
    launch: Callable[..., Server],
    env: dict[str, str],
    args: tuple[str, ...],
    expected: str,
) -> None:
    files = {f"{name}.py": HELLO.replace("__name__.encode()", f"b'{name}'") for name in
             ("one", "two", "three")}  # fmt: skip
    project(tmp_path, 'app = "one:app"\nport = 0\n', **files)
    assert body_of(launch("serve", *args, **env)) == f"hello from {expected}"


@pytest.mark.parametrize(
    ("table", "env", "args", "logged"),
    [
        ("", {}, (), True),  # the built-in default
        ("access-log = false\n", {}, (), False),  # pyproject over the default
        ("access-log = false\n", {"SIMPLEWSGI_ACCESS_LOG": "1"}, (), True),  # env over pyproject
        ("access-log = false\n", {"SIMPLEWSGI_ACCESS_LOG": "1"}, ("--no-access-log",), False),
        ("access-log = false\n", {}, ("--access-log",), True),  # command line over pyproject
    ],
)
def test_option_precedence(
    tmp_path: Path,
    launch: Callable[..., Server],
    table: str,
    env: dict[str, str],
    args: tuple[str, ...],
    logged: bool,
) -> None:
    project(tmp_path, "port = 0\n" + table)
    server = launch("serve", *args, **env)
    body_of(server, "/probe")
    assert server.stop() == exits.OK
    assert (" GET /probe " in server.stderr) is logged


@POSIX_ONLY
def test_a_flag_the_table_turns_on_is_turned_off_on_the_command_line(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(tmp_path, "reload = true\nport = 0\n")
    assert "Reload:" in launch("serve").wait_for(r"Press Ctrl\+C").string  # the control
    plain = launch("serve", "--no-reload")
    assert "Reload:" not in plain.wait_for(r"Press Ctrl\+C").string


def test_port_precedence(tmp_path: Path, launch: Callable[..., Server]) -> None:
    """A port held by this test fails wherever it comes from; 0 serves on a free one."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = str(busy.getsockname()[1])
        project(tmp_path, f"port = {taken}\n")
        result = run_cli("serve", cwd=tmp_path)  # the table's port is the one used...
        check_error(result, exits.CANNOT_LISTEN, taken)
        assert port_of(launch("serve", SIMPLEWSGI_PORT="0")) != int(taken)  # ...unless env
        server = launch("serve", "--port", "0", SIMPLEWSGI_PORT=taken)  # command line first
        assert body_of(server).startswith("Hello world!")
        project(tmp_path, "port = 0\n")
        assert port_of(launch("serve")) not in (8000, int(taken))  # table over the default


def test_a_run_from_a_subdirectory_takes_paths_relative_to_the_pyproject(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(
        tmp_path,
        """\
        app = "envapp:app"
        app-dir = "src"
        env-file = ["conf/base.env", "conf/local.env"]
        port = 0
        """,
        **{"src/envapp.py": ENV_APP, "conf/base.env": "X=base\nY=base\n",
           "conf/local.env": "Y=local\n"},
    )  # fmt: skip
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    server = launch("serve", cwd=tmp_path / "docs" / "deep")
    assert (body_of(server, "/X"), body_of(server, "/Y")) == ("base", "local")


@POSIX_ONLY
def test_a_unix_socket_path_is_relative_to_the_pyproject(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    """--uds is marked config_path, as every option that takes a path must be."""
    project(tmp_path, 'app = "hello:app"\nuds = "run/dev.sock"\n', **{"hello.py": HELLO})
    (tmp_path / "run").mkdir()
    (tmp_path / "sub").mkdir()
    server = launch("serve", cwd=tmp_path / "sub")
    server.wait_for(r"Press Ctrl\+C")
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(tmp_path / "run" / "dev.sock"))
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := client.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello from hello")
    assert not (tmp_path / "sub" / "run").exists()


def test_a_static_dir_is_relative_to_the_pyproject(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    """--static's DIR (the part after "=") is a path of the table; the command line's is the
    current directory's."""
    project(tmp_path, 'app = "hello:app"\nstatic = ["/assets=public"]\n', **{"hello.py": HELLO})
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "site.css").write_text("body { color: red }")
    (tmp_path / "sub" / "public").mkdir(parents=True)
    (tmp_path / "sub" / "public" / "site.css").write_text("/* the subdirectory's */")
    server = launch("serve", "--port", "0", cwd=tmp_path / "sub")
    host, port = server.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/assets/site.css")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"body { color: red }")
    assert response.getheader("Content-Type", "").startswith("text/css")
    conn.close()
    given = launch("serve", "--port", "0", "--static", "/assets=public", cwd=tmp_path / "sub")
    assert given.get("/assets/site.css") == (200, "/* the subdirectory's */")


@pytest.mark.parametrize(
    ("app", "file"), [("pkg.envapp:app", "pkg/envapp.py"), ("web/envapp.py:app", "web/envapp.py")]
)
def test_app_dir_defaults_to_the_project_directory(
    tmp_path: Path, launch: Callable[..., Server], app: str, file: str
) -> None:
    """A module APP is imported from the project's directory, a file APP found from it."""
    project(tmp_path, f'app = "{app}"\nport = 0\n', **{file: ENV_APP})
    (tmp_path / "sub").mkdir()
    server = launch("serve", cwd=tmp_path / "sub")
    assert body_of(server, "/import") == "unset"
    assert f"serving {app}" in server.stderr or f"serving {tmp_path / file}" in server.stderr


def test_demo_reads_the_server_options_and_ignores_the_app(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(tmp_path, 'app = "nowhere:app"\nport = 0\naccess-log = false\n')
    server = launch("demo")
    assert body_of(server).startswith("Hello world!")
    assert port_of(server) != 8000
    assert server.stop() == exits.OK
    assert " GET / " not in server.stderr


def test_a_nearer_pyproject_without_the_table_ends_the_search(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(tmp_path, 'app = "hello:app"\nport = 0\n', **{"hello.py": HELLO})
    inner = tmp_path / "packages" / "inner"
    write(inner / "pyproject.toml", "[project]\nname = 'inner'\n")
    server = launch("serve", "--port", "0", cwd=inner)
    assert body_of(server).startswith("Hello world!")  # the demo, not the outer project's app
    assert body_of(launch("serve", cwd=tmp_path)) == "hello from hello"  # the control


def test_a_file_without_the_table_is_not_even_parsed(tmp_path: Path) -> None:
    """A pyproject that depends on simplewsgi, broken further down: no table, not parsed."""
    broken = '[project]\ndependencies = ["simplewsgi>=0.1"]\n\n[tool.other]\nx = = 1\n'
    write(tmp_path / "pyproject.toml", broken)
    result = run_cli("serve", "--help", cwd=tmp_path)
    assert result.returncode == exits.OK
    result = run_cli("serve", "--port", "-1", cwd=tmp_path)  # exits before serving
    assert "pyproject" not in result.stderr
    write(tmp_path / "pyproject.toml", broken + "\n[tool.simplewsgi]\nport = 0\n")  # control
    check_error(run_cli("serve", cwd=tmp_path), exits.USAGE, "invalid TOML", "line 5")


# --- pyproject.toml: mistakes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        ("prot = 1", ["has no key 'prot'", "did you mean 'port'?"]),
        ("app_dir = 'src'", ["has no key 'app_dir'", "'app-dir'"]),
        ("no-access-log = true", ["'no-access-log'", "access-log = false"]),
        ("threads = 4", ["has no key 'threads'", "app, factory, app-dir"]),
        ('port = "8000"', ['port: expected an integer or "auto", got a string ("8000")']),
        ("port = 70000", ["port: 70000 is not in the range"]),
        ("port = 80.5", ['port: expected an integer or "auto", got a float']),
        ("access-log = [true]", ["access-log: expected true or false, got an array"]),
        ('access-log = "yes"', ["access-log: expected true or false, got a string"]),
        ("timeout-keep-alive = 0", ["timeout-keep-alive: 0.0 is not in the range 0<x<=86400"]),
        ("timeout-keep-alive = true", ["timeout-keep-alive: expected a number, got a boolean"]),
        ('color = "red"', ["color: 'red' is not one of"]),
        ("reload-include = [1]", ["reload-include: expected an array of strings", "(1)"]),
        ('reload-dir = "nope"', ["reload-dir: Directory", "nope' does not exist"]),
        ('env-file = "missing.env"', ["env-file: File", "missing.env' does not exist"]),
        ('app = "hello:"', ["app: invalid APP 'hello:'"]),
        ('host = "localhost:80"', ["host: 'localhost:80' includes a port"]),
        ("[tool.simplewsgi.dev]\nport = 1", ["has no key 'dev'"]),
        ("port = ", ["invalid TOML", "(at line 5, column"]),
    ],
)
def test_mistakes_are_one_error_naming_the_file_and_key(
    tmp_path: Path, table: str, fragments: list[str]
) -> None:
    path = project(tmp_path, table + "\n")
    (tmp_path / "sub").mkdir()
    err = check_error(run_cli("serve", cwd=tmp_path / "sub"), exits.USAGE, str(path), *fragments)
    assert "Usage:" not in err and "Traceback" not in err


def test_the_table_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "tool.simplewsgi = 8000\n")
    check_error(run_cli("serve", cwd=tmp_path), exits.USAGE, "[tool.simplewsgi] must be a table")


def test_a_broken_table_does_not_stop_help_but_stops_serving(tmp_path: Path) -> None:
    project(tmp_path, 'port = "x"\n')
    result = run_cli("serve", "--help", cwd=tmp_path)
    assert result.returncode == exits.OK and "pyproject.toml" in result.stdout
    # The whole table is checked, even what the command line overrides.
    check_error(run_cli("serve", "--port", "0", cwd=tmp_path), exits.USAGE, "port: expected")
    check_error(run_cli("demo", "--port", "0", cwd=tmp_path), exits.USAGE, "port: expected")


def test_tomllib_is_imported_only_for_a_table(tmp_path: Path) -> None:
    """Start-up without a table loads no TOML parser, no python-dotenv, no json, no difflib."""
    code = (
        "import sys; from simplewsgi import run; from simplewsgi.cli import main\n"
        "def serve(options, console):\n"
        "    names = ('tomllib', 'tomli', 'dotenv', 'json', 'difflib')\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] in names))\n"
        "run.serve = serve\n"
        "main(['demo', '--port', '0'])\n"
    )

    def loaded(cwd: Path) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=cli_env(), capture_output=True, text=True
        )
        assert result.returncode == exits.OK, result.stderr
        return result.stdout.strip()

    assert loaded(tmp_path) == "[]"  # no pyproject.toml at all
    write(tmp_path / "pyproject.toml", '[project]\ndependencies = ["simplewsgi"]\n')
    assert loaded(tmp_path) == "[]"
    write(tmp_path / "pyproject.toml", "[tool.simplewsgi]\nport = 0\n")  # the positive control
    parser = "tomllib" if sys.version_info >= (3, 11) else "tomli"
    assert parser in loaded(tmp_path)


# --- --env-file ---------------------------------------------------------------------------------


def test_env_file_values_are_there_when_the_app_is_imported(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    write(tmp_path / "envapp.py", ENV_APP)
    write(tmp_path / ".env", "X=from-file\nY=first\n# a comment\nexport Z='quoted ${X}'\n")
    write(tmp_path / "local.env", "Y=second\n")
    server = launch("serve", "envapp:app", "-p", "0", "--env-file", ".env", "--env-file",
                    "local.env")  # fmt: skip
    assert body_of(server, "/import") == "from-file"
    assert body_of(server, "/Y") == "second"  # a later file wins
    assert body_of(server, "/Z") == "quoted from-file"
    assert body_of(server, "/modules") == "True"


def test_the_environment_wins_over_env_files(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "envapp.py", ENV_APP)
    write(tmp_path / ".env", "X=from-file\nY=from-file\n")
    server = launch("serve", "envapp:app", "-p", "0", "--env-file", ".env", X="from-shell")
    assert (body_of(server, "/X"), body_of(server, "/Y")) == ("from-shell", "from-file")


def test_a_dot_env_is_not_read_unless_asked(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "envapp.py", ENV_APP)
    write(tmp_path / ".env", "X=from-file\n")
    server = launch("serve", "envapp:app", "-p", "0")
    assert body_of(server, "/X") == "unset"
    assert body_of(server, "/modules") == "False"  # python-dotenv not even imported
    project(tmp_path, 'env-file = ".env"\n')  # ... or unless pyproject says so
    assert body_of(launch("serve", "envapp:app", "-p", "0"), "/X") == "from-file"


def test_a_missing_env_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("serve", "--env-file", "nope.env", cwd=tmp_path)
    check_error(result, exits.USAGE, "--env-file", "nope.env", "does not exist")


def test_an_unparsable_line_is_a_warning_naming_file_and_line(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    write(tmp_path / "envapp.py", ENV_APP)
    write(tmp_path / ".env", "X=1\nnot a binding\n")
    server = launch("serve", "envapp:app", "-p", "0", "--env-file", ".env")
    assert body_of(server, "/X") == "1"
    assert re.search(r"^Warning: \.env:2: cannot parse", server.plain, re.M)


@pytest.mark.parametrize("reload", [False, True])
def test_without_python_dotenv_the_error_names_the_extra(tmp_path: Path, reload: bool) -> None:
    hide = tmp_path / "hide"
    write(hide / "sitecustomize.py", "import sys\nsys.modules['dotenv'] = None\n")
    write(tmp_path / ".env", "X=1\n")
    env = cli_env()
    env["PYTHONPATH"] = f"{hide}:{env['PYTHONPATH']}"
    hidden = subprocess.run([sys.executable, "-c", "import dotenv"], env=env, capture_output=True)
    assert hidden.returncode != 0  # the sitecustomize works
    args = ["serve", "--env-file", ".env", "-p", "0", *(["--reload"] if reload else [])]
    result = run_cli(*args, cwd=tmp_path, env=env)
    check_error(result, exits.USAGE, "pip install 'simplewsgi[dotenv]'")
    assert "serving" not in result.stderr


@POSIX_ONLY
@pytest.mark.parametrize(
    ("where", "args"),
    [
        ("app/.env", ()),  # inside the watched directory, a name no pattern includes
        ("app/.env", ("--reload-exclude", ".env")),  # excluded: still the app's environment
        ("config/dev.env", ()),  # outside every watched directory
    ],
)
def test_env_files_are_read_again_by_every_reload(
    tmp_path: Path, launch: Callable[..., Server], where: str, args: tuple[str, ...]
) -> None:
    write(tmp_path / "app" / "envapp.py", ENV_APP)
    env_file = write(tmp_path / where, "X=one\nY=kept\n")
    server = launch(
        "serve", "envapp:app", "--app-dir", "app", "-p", "0", "--reload", "--env-file", where,
        *args,
    )  # fmt: skip
    assert body_of(server, "/both") == "one one"
    write(env_file, "X=two\nY=kept\n")
    server.wait_for(RELOADED.format(name=re.escape(env_file.name)))
    wait_for(lambda: body_of(server, "/both") == "two two", what="the new value served")
    # X removed: gone from the next worker (the supervisor never loaded it, and each worker
    # starts from the supervisor's environment). Saved as editors do: a new file renamed over.
    os.replace(write(env_file.with_name("tmp-save"), "Y=kept\n"), env_file)
    wait_for(lambda: body_of(server, "/X") == "unset", what="X gone after the reload")
    assert body_of(server, "/Y") == "kept"
    reloaded = RELOADED.format(name=re.escape(env_file.name))
    wait_for(lambda: len(re.findall(reloaded, server.plain)) == 2, what="the second reload line")


@POSIX_ONLY
def test_a_reload_worker_without_env_files_does_not_import_dotenv(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    write(tmp_path / "envapp.py", ENV_APP)
    server = launch("serve", "envapp:app", "-p", "0", "--reload")
    assert body_of(server, "/modules") == "False"
    write(tmp_path / ".env", "X=1\n")
    server = launch("serve", "envapp:app", "-p", "0", "--reload", "--env-file", ".env")
    assert body_of(server, "/modules") == "True"  # the control


@POSIX_ONLY
def test_a_deleted_env_file_keeps_the_previous_worker_until_it_is_back(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    write(tmp_path / "envapp.py", ENV_APP)
    env_file = write(tmp_path / "dev.env", "X=one\n")
    server = launch("serve", "envapp:app", "-p", "0", "--reload", "--env-file", "dev.env")
    assert body_of(server) == "one"
    env_file.unlink()
    server.wait_for(r"Error: .*dev\.env.*still serving the previous version")
    assert body_of(server) == "one"
    write(env_file, "X=back\n")
    wait_for(lambda: body_of(server) == "back", what="the recreated env file served")
