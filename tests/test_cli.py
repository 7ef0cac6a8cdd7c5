"""The ``simplewsgi`` command: argument parsing through click's CliRunner, and the real command
(``python -m simplewsgi``) as a subprocess on real ports for every APP form, error, option,
environment variable, color rule and signal.

Every wait has a deadline; processes are killed by PID and reaped in the fixture's teardown,
which prints their output (pytest shows it when a test fails).
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

import click
import pytest
from click.testing import CliRunner

from simplewsgi import cli, exits
from simplewsgi.options import ServeOptions
from simplewsgi.version import __version__
from tests.commandline import (
    DEADLINE,
    ESC,
    HELLO,
    POSIX_ONLY,
    Server,
    check_error,
    cli_env,
    run_cli,
    serve_and_get,
    write,
)  # fmt: skip
from tests.helpers import wait_for


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag: str) -> None:
    result = CliRunner().invoke(cli.main, [flag])
    assert result.exit_code == exits.OK
    assert "serve" in result.output and "demo" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == exits.OK
    python = ".".join(map(str, sys.version_info[:3]))
    assert result.output.startswith(f"simplewsgi {__version__} (Python {python}")


def test_bad_option_values_are_usage_errors() -> None:
    for args in (["serve", "--color", "sometimes"], ["serve", "--port", "70000"], ["demo", "x"]):
        result = CliRunner().invoke(cli.main, args)
        assert result.exit_code == exits.USAGE, result.output


def test_host_with_a_port_is_a_usage_error_and_brackets_are_dropped(
    parsed: Callable[..., ServeOptions],
) -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--host", "127.0.0.1:8000"])
    assert result.exit_code == exits.USAGE
    assert "use --host 127.0.0.1 --port 8000" in result.output
    assert parsed("serve", "--host", "[::1]").host == ("::1",)


@pytest.mark.parametrize("host", ["[::1", "::1]", "[::1]:80]", "[[::1]]"])
def test_a_host_with_unmatched_brackets_is_a_usage_error(host: str) -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--host", host])
    assert result.exit_code == exits.USAGE, result.output
    assert f"--host {host!r}" in result.output and "bracket" in result.output
    assert "[[" not in result.output.replace(host, "")


def test_every_option_is_a_field_spelled_once_with_its_env_var() -> None:
    serve = cli.main.commands["serve"]
    names = [param.name for param in serve.params if param.name != "help"]
    assert sorted(names) == sorted(ServeOptions._fields)
    for param in serve.params:
        if isinstance(param, click.Option) and param.name != "help":
            long = next(opt for opt in param.opts if opt.startswith("--"))
            assert param.envvar == "SIMPLEWSGI_" + long[2:].upper().replace("-", "_")
            assert param.show_envvar
    help_text = CliRunner().invoke(cli.main, ["serve", "--help"], terminal_width=200).output
    assert "SIMPLEWSGI_PORT" in help_text and "SIMPLEWSGI_RELOAD_POLL" in help_text
    demo = cli.main.commands["demo"]
    assert {param.name for param in demo.params} <= set(names) | {"help"}


def test_options_survive_json() -> None:
    options = ServeOptions(app="a:b", port=0, reload_dirs=("x", "y"), reload_poll=True)
    assert ServeOptions.from_json(options.to_json()) == options


def test_defaults(parsed: Callable[..., ServeOptions]) -> None:
    assert parsed("serve") == ServeOptions()
    assert parsed("demo") == ServeOptions()


def test_options_map_onto_serve_options(
    parsed: Callable[..., ServeOptions], tmp_path: Path
) -> None:
    options = parsed(
        "serve", "pkg.web:app", "--factory", "--app-dir", str(tmp_path), "--host", "::1",
        "-p", "0", "--color", "never", "--no-access-log", "--reload", "--reload-dir",
        str(tmp_path), "--reload-dir", ".", "--reload-include", "*.html",
        "--reload-exclude", "logs/*", "--reload-poll",
    )  # fmt: skip
    assert options == ServeOptions(
        app="pkg.web:app", factory=True, app_dir=str(tmp_path), host=("::1",), port=0,
        color="never", access_log=False, reload=True, reload_dirs=(str(tmp_path), "."),
        reload_include=("*.html",), reload_exclude=("logs/*",), reload_poll=True,
    )  # fmt: skip


def test_options_from_environment_variables(parsed: Callable[..., ServeOptions]) -> None:
    options = parsed(
        "serve",
        SIMPLEWSGI_APP="web:app", SIMPLEWSGI_FACTORY="1", SIMPLEWSGI_HOST="0.0.0.0",
        SIMPLEWSGI_PORT="0", SIMPLEWSGI_COLOR="always", SIMPLEWSGI_ACCESS_LOG="0",
        SIMPLEWSGI_RELOAD="true", SIMPLEWSGI_RELOAD_INCLUDE="*.html *.css",
        SIMPLEWSGI_RELOAD_POLL="1",
    )  # fmt: skip
    assert options == ServeOptions(
        app="web:app", factory=True, host=("0.0.0.0",), port=0, color="always",
        access_log=False, reload=True, reload_include=("*.html", "*.css"), reload_poll=True,
    )  # fmt: skip
    # The command line wins over the environment.
    assert parsed("serve", "other:app", "-p", "9", SIMPLEWSGI_PORT="0").port == 9


def test_missing_directories_are_usage_errors(tmp_path: Path) -> None:
    for option in ("--app-dir", "--reload-dir"):
        result = CliRunner().invoke(cli.main, ["serve", option, str(tmp_path / "nope")])
        assert result.exit_code == exits.USAGE
        assert "does not exist" in result.output


def test_import_loads_neither_watchdog_nor_colorama() -> None:
    code = (
        "import sys, simplewsgi.cli, simplewsgi.run, simplewsgi.console; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('watchdog', 'colorama', 'json') or m == 'simplewsgi.importer'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    for name in ("watchdog", "colorama", "json", "simplewsgi.importer"):  # all real modules
        assert importlib.util.find_spec(name) is not None, name


# --- serving every APP form (subprocesses on real ports) -----------------------------------


def test_module_attr(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "hello.py", HELLO)
    server, body = serve_and_get(launch, "serve", "hello:app", "--port", "0")
    assert body == "hello from hello"
    assert "serving hello:app" in server.stderr
    assert re.search(r"^127\.0\.0\.1 GET / HTTP/1\.1 200 16 B \d+\.\d ms$", server.stderr, re.M)
    assert "Warning" not in server.stderr and ESC not in server.stderr
    assert server.stdout == ""  # stdout stays the app's


def test_dotted_module_and_attribute(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "pkg" / "__init__.py", "")
    write(
        tmp_path / "pkg" / "web.py",
        """\
        class Site:
            def wsgi_app(self, environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"site"]

        site = Site()
        """,
    )
    assert serve_and_get(launch, "serve", "pkg.web:site.wsgi_app", "-p", "0")[1] == "site"


def test_module_alone_finds_application(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "wsgi.py", HELLO.replace("def app", "def application"))
    assert serve_and_get(launch, "serve", "wsgi", "-p", "0")[1] == "hello from wsgi"


def test_factory_call_with_literal_arguments(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(
        tmp_path / "factory.py",
        """\
        def create_app(env, debug=False):
            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [f"{env} {debug}".encode()]
            return app
        """,
    )
    body = serve_and_get(launch, "serve", "factory:create_app('dev', debug=True)", "-p", "0")[1]
    assert body == "dev True"


def test_factory_flag(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "factory.py", f"def make():\n{textwrap.indent(HELLO, '    ')}    return app\n")
    server, body = serve_and_get(launch, "serve", "factory:make", "--factory", "-p", "0")
    assert body == "hello from factory"
    assert "factory" in server.stderr.splitlines()[0]


@pytest.mark.parametrize("spec", ["site/main.py", "site/main.py:app"])
def test_file_path(tmp_path: Path, launch: Callable[..., Server], spec: str) -> None:
    write(tmp_path / "site" / "main.py", HELLO)
    assert serve_and_get(launch, "serve", spec, "-p", "0")[1].startswith("hello from ")


@pytest.mark.parametrize("absolute", [False, True])
def test_app_dir(tmp_path: Path, launch: Callable[..., Server], absolute: bool) -> None:
    write(tmp_path / "src" / "hello.py", HELLO)
    app_dir = str(tmp_path / "src") if absolute else "src"
    assert serve_and_get(launch, "serve", "hello:app", "--app-dir", app_dir, "-p", "0")[1] == (
        "hello from hello"
    )


def test_environment_variables(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "src" / "hello.py", HELLO)
    server, body = serve_and_get(
        launch, "serve",
        SIMPLEWSGI_APP="hello:app", SIMPLEWSGI_APP_DIR="src", SIMPLEWSGI_PORT="0",
        SIMPLEWSGI_HOST="127.0.0.1", SIMPLEWSGI_ACCESS_LOG="0",
    )  # fmt: skip
    assert body == "hello from hello"
    assert " GET / " not in server.stderr  # SIMPLEWSGI_ACCESS_LOG=0


def test_serve_without_app_serves_the_demo(launch: Callable[..., Server]) -> None:
    server, body = serve_and_get(launch, "serve", "--port", "0")
    assert body.startswith("Hello world!")
    assert "serving demo app" in server.stderr


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_demo_command_on_ipv6(launch: Callable[..., Server]) -> None:
    server, body = serve_and_get(launch, "demo", "-p", "0", "--host", "::1")
    assert body.startswith("Hello world!")
    assert "serving demo app" in server.stderr and "http://[::1]:" in server.stderr
    assert "Warning" not in server.stderr


@pytest.mark.parametrize("host", ["::ffff:127.0.0.1", "localhost", "127.0.0.2"])
def test_a_loopback_address_however_spelled_does_not_warn(
    launch: Callable[..., Server], host: str
) -> None:
    server, body = serve_and_get(launch, "demo", "--host", host, "--port", "0")
    assert body.startswith("Hello world!")
    assert "Warning" not in server.stderr, server.stderr


def test_non_loopback_host_warns(launch: Callable[..., Server]) -> None:
    server, body = serve_and_get(launch, "demo", "--host", "0.0.0.0", "--port", "0")
    assert body.startswith("Hello world!")
    (warning,) = [line for line in server.stderr.splitlines() if line.startswith("Warning:")]
    assert "development server" in warning and "gunicorn" in warning


def test_app_logging_is_not_doubled(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(
        tmp_path / "logged.py",
        """\
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="app-log %(message)s")
        logging.getLogger("simplewsgi").setLevel(logging.DEBUG)

        def app(environ, start_response):
            logging.getLogger("logged").info("handling %s", environ["PATH_INFO"])
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        """,
    )
    server, _ = serve_and_get(launch, "serve", "logged:app", "-p", "0", path="/once")
    assert server.stderr.count("app-log handling /once") == 1
    assert len(re.findall(r"GET /once", server.stderr)) == 1, server.stderr


# --- colors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "colored"),
    [
        ((), {}, False),  # piped: auto is off
        ((), {"FORCE_COLOR": "1"}, True),
        ((), {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        (("--color", "always"), {"NO_COLOR": "1"}, True),
        (("--color", "never"), {"FORCE_COLOR": "1"}, False),
        ((), {"SIMPLEWSGI_COLOR": "always"}, True),
    ],
)
def test_colors(
    launch: Callable[..., Server], args: tuple[str, ...], env: dict[str, str], colored: bool
) -> None:
    server, _ = serve_and_get(launch, "demo", "-p", "0", *args, path="/colors", **env)
    access = next(line for line in server.stderr.splitlines() if "/colors" in line)
    assert (ESC in access) is colored
    assert (ESC in server.stderr) is colored


def test_forced_color_on_errors(tmp_path: Path) -> None:
    result = run_cli(
        "serve", "missing_module", "-p", "0", cwd=tmp_path, env=cli_env(FORCE_COLOR="1")
    )
    assert result.returncode == exits.APP_ERROR
    assert result.stderr.startswith(ESC)
    result = run_cli("serve", "missing_module", "-p", "0", cwd=tmp_path)
    assert result.stderr.startswith("Error: ")


# --- errors: one readable line, a named exit status, none of our frames -------------------


@pytest.mark.parametrize(
    ("files", "spec", "fragments"),
    [
        ({}, "nowhere:app", ["nowhere", "not found"]),
        ({"pkg/__init__.py": ""}, "pkg.sub:app", ["pkg.sub"]),
        ({"hello.py": HELLO}, "hello:ap", ["'ap'", "did you mean 'hello:app'?"]),
        ({"hello.py": HELLO + "VALUE = 3\n"}, "hello:VALUE", ["VALUE", "not callable"]),
        (
            {"fact.py": "def make():\n    raise ValueError('no config')\n"},
            "fact:make()",
            ["fact:make", "ValueError", "no config"],
        ),
        ({"empty.py": "X = 1\n"}, "empty", ["app", "application"]),
        (
            {"fexit.py": "import sys\ndef create_app():\n    sys.exit('no database')\n"},
            "fexit:create_app()",
            ["SystemExit", "no database"],
        ),
        (
            {"zero.py": HELLO + "def create_app():\n    return app\n"},
            "zero:create_app",
            ["looks like a factory", "--factory"],
        ),
    ],
)
def test_app_errors(tmp_path: Path, files: dict[str, str], spec: str, fragments: list[str]) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    err = check_error(run_cli("serve", spec, "-p", "0", cwd=tmp_path), exits.APP_ERROR, *fragments)
    assert "Traceback" not in err
    assert err.startswith("Error: ")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("hello:", "invalid APP 'hello:'"),
        (":app", "invalid APP ':app'"),
        ("hello:app(1,2", "cannot parse 'app(1,2'"),
        ("hello:app(", "cannot parse 'app('"),
        ("hello:app(open('x'))", "literal"),
        ("not a module", "bad module name"),
        ("some/dir:app", "not a .py file"),
    ],
)
@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_a_malformed_app_string_is_a_usage_error(
    tmp_path: Path, spec: str, fragment: str, reload: tuple[str, ...]
) -> None:
    """The string itself is wrong: nothing is imported, nothing is served, exit 2, whether
    reloading or not (no edit of a file can fix it)."""
    write(tmp_path / "hello.py", HELLO + "open('imported', 'w').close()\n")
    err = check_error(run_cli("serve", *reload, spec, cwd=tmp_path), exits.USAGE, fragment)
    assert "Traceback" not in err
    assert not (tmp_path / "imported").exists()


def test_import_error_inside_the_app_shows_the_users_traceback(tmp_path: Path) -> None:
    write(tmp_path / "models.py", "import not_installed_dependency\n")
    write(tmp_path / "web.py", "import models\n" + HELLO)
    err = check_error(
        run_cli("serve", "web:app", "-p", "0", cwd=tmp_path),
        exits.APP_ERROR,
        "Traceback",
        "not_installed_dependency",
        str(tmp_path / "web.py"),
        str(tmp_path / "models.py"),
    )
    assert err.splitlines()[-1].startswith("Error: importing 'web'")
    assert "importlib" not in err


def test_syntax_error_in_the_app(tmp_path: Path) -> None:
    write(tmp_path / "broken.py", "def app(:\n    pass\n")
    err = check_error(run_cli("serve", "broken:app", "-p", "0", cwd=tmp_path), exits.APP_ERROR)
    assert err.splitlines()[-2:] == [
        "SyntaxError: invalid syntax",
        "Error: importing 'broken' (APP 'broken:app') raised SyntaxError: invalid syntax"
        " (broken.py, line 1)",
    ]
    assert f'File "{tmp_path / "broken.py"}", line 1' in err


RELOAD_OR_NOT = pytest.mark.parametrize("reload", [(), ("--reload",)], ids=["plain", "reload"])


@RELOAD_OR_NOT
def test_port_in_use_names_the_holder(tmp_path: Path, reload: tuple[str, ...]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("serve", "--port", str(port), *reload, cwd=tmp_path)
    err = check_error(result, exits.CANNOT_LISTEN, f"port {port}", "--port 0")
    assert "Traceback" not in err and len(err.splitlines()) == 1
    if sys.platform.startswith("linux"):
        assert f"PID {os.getpid()}" in err


@RELOAD_OR_NOT
def test_address_not_available(tmp_path: Path, reload: tuple[str, ...]) -> None:
    args = ("serve", "--host", "192.0.2.123", "--port", "0", *reload)  # TEST-NET-1: not ours
    result = run_cli(*args, cwd=tmp_path)
    check_error(result, exits.CANNOT_LISTEN, "cannot listen on 192.0.2.123:0")


# --- signals ----------------------------------------------------------------------------

GATED = """\
import os, sys, time

def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        sys.stderr.write("in-flight\\n")
        sys.stderr.flush()
        deadline = time.monotonic() + 10
        while not os.path.exists("gate") and time.monotonic() < deadline:
            time.sleep(0.005)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
"""


def start_slow_request(server: Server) -> tuple[threading.Thread, list[object]]:
    """A GET /slow in a thread, returned once the app is inside it; ``results`` receives
    ``(status, body)`` or the exception the client saw."""
    results: list[object] = []
    server.address  # noqa: B018 - wait for the banner before connecting

    def client() -> None:
        try:
            results.append(server.get("/slow"))
        except (OSError, http.client.HTTPException) as error:
            results.append(error)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    server.wait_for("in-flight")
    return thread, results


@POSIX_ONLY
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_signal_stops_gracefully(
    tmp_path: Path, launch: Callable[..., Server], signum: int, reload: tuple[str, ...]
) -> None:
    write(tmp_path / "gated.py", GATED)
    server = launch("serve", *reload, "gated:app", "-p", "0")
    thread, results = start_slow_request(server)
    server.proc.send_signal(signum)
    wait_for(lambda: not server.listening(), what="the listening socket to close")
    (tmp_path / "gate").touch()
    thread.join(DEADLINE)
    assert results == [(200, "done")]  # the in-flight request finished
    assert server.wait() == exits.OK
    assert "waiting up to 5 s for 1 request(s) in flight" in server.stderr  # never silent
    assert "goodbye" in server.stderr.splitlines()[-1]
    assert "Traceback" not in server.stderr


@POSIX_ONLY
@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_second_sigint_exits_at_once(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    write(tmp_path / "gated.py", GATED)
    server = launch("serve", *reload, "gated:app", "-p", "0")
    thread, results = start_slow_request(server)
    server.proc.send_signal(signal.SIGINT)
    wait_for(lambda: not server.listening(), what="the listening socket to close")
    started = time.monotonic()
    assert server.stop(signal.SIGINT) == exits.INTERRUPTED
    assert time.monotonic() - started < 2.0  # not the 5 s graceful timeout
    assert "quitting now" in server.stderr
    # Asked to quit now: the worker cut short is not reported as a worker that overran.
    assert "did not finish its requests" not in server.stderr
    thread.join(DEADLINE)
    assert isinstance(results[0], (OSError, http.client.HTTPException))  # cut, not answered


# What nohup does before it runs a command: SIGHUP ignored, which exec keeps.
NOHUP = (
    "import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, '-m', 'simplewsgi', *sys.argv[1:]])"
)


def _ignored_signals(pid: int) -> int:
    """The SigIgn mask of a process (Linux's /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.M).group(1), 16)  # type: ignore[union-attr]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")
@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_under_nohup_the_terminal_closing_does_not_stop_it(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    """A signal ignored when the command started stays ignored: no handler of ours replaces
    it (one did: nohup simplewsgi serve & stopped when the terminal closed)."""
    write(tmp_path / "hello.py", HELLO)
    server = launch("serve", "hello:app", *reload, "-p", "0", command=(sys.executable, "-c", NOHUP))
    assert server.get()[0] == 200  # serving: every handler of ours is in place
    assert _ignored_signals(server.proc.pid) & (1 << (signal.SIGHUP - 1)), "SIGHUP handled"
    server.proc.send_signal(signal.SIGHUP)
    assert server.get()[0] == 200
    assert server.stop(signal.SIGINT) == exits.OK  # the other stop signals still stop it
    assert "goodbye" in server.stderr


SLOW_IMPORT = """\
import sys, time
sys.stderr.write("importing\\n")
sys.stderr.flush()
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    time.sleep(0.005)
"""


@POSIX_ONLY
@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [
        (signal.SIGINT, exits.INTERRUPTED, "interrupted before serving started"),
        (signal.SIGTERM, 128 + signal.SIGTERM, "stopped by SIGTERM before serving started"),
        (signal.SIGHUP, 128 + signal.SIGHUP, "stopped by SIGHUP before serving started"),
    ],
)
@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_a_stop_signal_while_the_app_imports(
    tmp_path: Path,
    launch: Callable[..., Server],
    signum: int,
    status: int,
    said: str,
    reload: tuple[str, ...],
) -> None:
    """Each says what happened and exits 128 + the signal, as the exit status table says."""
    write(tmp_path / "slow_import.py", SLOW_IMPORT)
    server = launch("serve", *reload, "slow_import:app", "-p", "0")
    server.wait_for("importing")
    if reload:  # the terminal's signal reaches the supervisor only
        server.proc.send_signal(signum)
        assert server.wait() == status
    else:
        assert server.stop(signum) == status
    assert "Traceback" not in server.stderr
    assert server.stderr.splitlines()[-1] == f"Info: {said}"
    assert status in dict(exits.TABLE)


HASTY_USER = """
import signal
from simplewsgi import run
from simplewsgi.console import Console
from simplewsgi.options import ServeOptions

class Hasty(Console):
    def banner(self, *args, **kwargs):
        super().banner(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # Ctrl+C the instant "Press Ctrl+C" shows

run.serve(ServeOptions(port=0), Hasty.decide("never"))
print("returned")
"""


@POSIX_ONLY
def test_ctrl_c_right_after_the_banner_is_a_graceful_stop() -> None:
    """The banner promises that Ctrl+C quits the server: from its first line on, a stop signal
    is a graceful stop (exit 0), never "interrupted before serving started" (exit 130)."""
    done = subprocess.run(
        [sys.executable, "-c", HASTY_USER], capture_output=True, text=True, timeout=DEADLINE
    )
    assert "KeyboardInterrupt" not in done.stderr
    assert done.stdout == "returned\n"
    assert done.stderr.splitlines()[-1] == "Info: stopped, goodbye"


@POSIX_ONLY
def test_half_sent_requests_are_not_in_flight_at_a_stop(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    """A connection still sending its request head has nothing in flight: a stop closes it
    after a short grace instead of waiting the whole graceful timeout for it."""
    server = launch("demo", "-p", "0")
    host, port = server.address
    crowd = []
    try:
        for _ in range(50):
            sock = socket.create_connection((host, port), timeout=DEADLINE)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
            crowd.append(sock)
        threads = Path(f"/proc/{server.proc.pid}/task")
        if threads.is_dir():  # every connection accepted: each has its thread
            wait_for(lambda: len(list(threads.iterdir())) > 50, what="a thread per connection")
        else:
            assert server.get("/")[0] == 200  # accepted after the crowd, so it was too
        started = time.monotonic()
        assert server.stop(signal.SIGINT) == exits.OK
        assert time.monotonic() - started < 3.0  # not the 5 s graceful timeout
        assert "in flight" not in server.stderr, server.stderr
    finally:
        for sock in crowd:
            sock.close()


@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_the_apps_print_output_is_shown_at_once_when_stdout_is_a_pipe(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    """docker logs, a file, | tee: without PYTHONUNBUFFERED (which users do not have, and this
    machine sets) stdout is block-buffered; the server line-buffers it for the app."""
    write(
        tmp_path / "printing.py",
        """\
        print("imported")
        def app(environ, start_response):
            print("request for", environ["PATH_INFO"])
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
        """,
    )
    server = launch("serve", *reload, "printing:app", "-p", "0", PYTHONUNBUFFERED="")
    assert server.get("/hello") == (200, "ok")
    wait_for(lambda: "request for /hello\n" in server.stdout, what="the app's print on stdout")
    assert server.stdout.startswith("imported\n")
    assert server.stop(signal.SIGINT) == exits.OK


def test_serve_without_app_hints_at_the_projects_app(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    write(tmp_path / "wsgi.py", HELLO)
    server = launch("serve", "-p", "0")
    server.wait_for("serving demo app")
    assert "for wsgi.py: simplewsgi serve wsgi" in server.stderr
    assert server.stop(signal.SIGINT) == exits.OK


def test_a_reload_pattern_that_matches_nothing_is_one_error_line(tmp_path: Path) -> None:
    write(tmp_path / "hello.py", HELLO)
    result = run_cli("serve", "hello:app", "--reload", "--reload-include", "../x", cwd=tmp_path)
    err = check_error(result, exits.USAGE, "'../x'", "matches nothing")
    assert "Traceback" not in err


@POSIX_ONLY
@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_a_closed_terminal_is_a_graceful_stop(tmp_path: Path, reload: tuple[str, ...]) -> None:
    """The terminal goes away (writes to it fail with EIO) and SIGHUP follows: requests in
    between are still answered, and the stop ends with exit status 0, not Python's 120 for a
    lost stderr."""
    import pty

    write(tmp_path / "hello.py", HELLO)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simplewsgi", "serve", *reload, "hello:app", "-p", "0"],
        cwd=tmp_path,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    try:
        seen = b""
        while (match := re.search(rb"http://127\.0\.0\.1:(\d+)/", seen)) is None:
            chunk = os.read(master, 4096)
            assert chunk, seen
            seen += chunk
        port = int(match.group(1))
        os.close(master)  # the terminal window closes
        master = -1
        for _ in range(3):  # each answered, although its access line cannot be written
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(DEADLINE) == exits.OK
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_port_is_bound_before_the_app_is_imported(tmp_path: Path) -> None:
    """A port in use is said at once, before the app's start-up code runs (it may start
    subprocesses or open databases for nothing)."""
    write(tmp_path / "side_effect.py", "open('imported', 'w').close()\n" + HELLO)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("serve", "side_effect:app", "--port", str(port), cwd=tmp_path)
    check_error(result, exits.CANNOT_LISTEN, f"port {port}")
    assert not (tmp_path / "imported").exists()


def test_the_options_defaults_are_the_servers_own() -> None:
    """ServeOptions spells the deadlines' defaults as numbers (importing the HTTP core would
    cost every start-up); they must be the core's."""
    from simplewsgi.http import limits

    defaults = ServeOptions()
    assert defaults.timeout_header == limits.HEADER_TIMEOUT
    assert defaults.timeout_keep_alive == limits.KEEP_ALIVE_TIMEOUT
