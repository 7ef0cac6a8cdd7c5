"""``serve --reload`` end to end: real processes, real files edited on disk, real HTTP requests.

Every wait has a deadline; "must not reload" checks end with a positive control change whose
reload line must name only that file. Processes are killed by PID and reaped in ``finally``;
a failing test prints the server's output.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import py_compile
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib.util import cache_from_source
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.helpers import descendants, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the reloader is POSIX only")

REPO = Path(__file__).resolve().parent.parent
# What a worker must not import (the test app reports what it finds; see APP below).
BANNED_IN_WORKERS = (
    "click", "watchdog", "simplewsgi.cli", "simplewsgi.reload.supervisor",
    "simplewsgi.reload.watcher", "simplewsgi.reload.process", "simplewsgi.reload.events",
)  # fmt: skip
DEADLINE = 10.0
STOP_DEADLINE = 10.0
PORT_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/")
RELOADED_RE = re.compile(r"reloaded in (\d+) ms \(changed: (.*)\)")
PYTHON_M = (sys.executable, "-m", "simplewsgi")
CONSOLE_SCRIPT = """\
import re, sys
from simplewsgi.cli import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""
# Runs the rest of argv as a session leader whose controlling terminal is argv[1].
ON_TERMINAL = (
    "import os, sys; os.setsid(); fd = os.open(sys.argv[1], os.O_RDWR); os.dup2(fd, 0); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)

APP = """\
import os

VERSION = {version!r}
BANNED = ()  # BANNED_IN_WORKERS, filled in below

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/crash":
        os._exit(7)
    if path == "/modules":  # what the worker imported besides the app
        import sys
        names = [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BANNED)]
        body = " ".join(sorted(names)).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/pid":
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/slow":
        import time
        open(environ["QUERY_STRING"] + ".started", "w").close()  # unwatched: never reloads
        time.sleep(0.5)
    body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
APP = APP.replace("BANNED = ()", f"BANNED = {BANNED_IN_WORKERS!r}")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class Server:
    """A ``simplewsgi serve --reload`` process, its output collected by a reader thread."""

    def __init__(
        self,
        cwd: Path,
        *args: str,
        env: Optional[dict[str, str]] = None,
        launcher: tuple[str, ...] = PYTHON_M,
    ) -> None:
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(":")
        env.pop("NO_COLOR", None)
        argv = [*launcher, "serve", "--port", "0", "--reload", "--color", "never", *args]
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_line(PORT_RE).group(1))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self._lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def lines(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        with self._lock:
            return [m for m in map(pattern.search, self._lines) if m is not None]

    def wait_line(self, pattern: re.Pattern[str], count: int = 1) -> re.Match[str]:
        found: list[re.Match[str]] = wait_for(
            lambda: len(self.lines(pattern)) >= count and self.lines(pattern),
            DEADLINE,
            f"{pattern.pattern!r} x{count} in the output",
        )
        return found[count - 1]

    def get(self, path: str = "/", accept: str = "*/*") -> tuple[int, str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        try:
            conn.request("GET", path, headers={"Accept": accept})
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, response.getheader("Content-Type", ""), body
        finally:
            conn.close()

    def wait_body(self, expected: str) -> None:
        wait_for(lambda: self.get()[2] == expected, DEADLINE, f"a response {expected!r}")

    def descendants(self) -> list[int]:
        """PIDs of the supervisor's children and their children (from /proc)."""
        return descendants(self.proc.pid)

    def kill(self) -> None:
        pids = self.descendants() if self.proc.poll() is None else []
        for pid in [self.proc.pid, *pids]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(STOP_DEADLINE)
        self._reader.join(STOP_DEADLINE)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers in ``tmp_path``; always killed and reaped, their output shown on failure."""
    servers: list[Server] = []

    def start(
        *args: str, env: Optional[dict[str, str]] = None, launcher: tuple[str, ...] = PYTHON_M
    ) -> Server:
        server = Server(tmp_path, *args, env=env, launcher=launcher)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.kill()
            # pytest shows captured stderr only for a failing test.
            sys.stderr.write(f"--- server output ---\n{server.output}\n")


@pytest.mark.parametrize("launch", ["python -m", "console script"])
def test_reload_on_change(tmp_path: Path, serve: Callable[..., Server], launch: str) -> None:
    """Workers start the same way whatever launched the supervisor."""
    launcher: tuple[str, ...] = PYTHON_M
    if launch == "console script":
        write(tmp_path / "bin" / "simplewsgi", CONSOLE_SCRIPT)
        launcher = (sys.executable, str(tmp_path / "bin" / "simplewsgi"))
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app", launcher=launcher)
    assert server.get() == (200, "text/plain", "one")
    assert server.get("/modules")[2] == "", "a worker must not import the CLI or watchdog"
    for name in (*BANNED_IN_WORKERS, "simplewsgi.reload.worker"):  # all real modules
        assert importlib.util.find_spec(name) is not None, name
    write(tmp_path / "app.py", APP.format(version="two"))
    server.wait_body("two")
    assert server.wait_line(RELOADED_RE).group(2) == "app.py"


def test_polling_backend_is_named_and_reloads(tmp_path: Path, serve: Callable[..., Server]) -> None:
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app", "--reload-poll")
    assert "polling" in server.wait_line(re.compile(r"Reload: +(.*)")).group(1)
    assert server.get()[2] == "one"
    write(tmp_path / "app.py", APP.format(version="two!"))
    server.wait_body("two!")


def test_reads_excluded_and_unrelated_files_do_not_reload(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    write(tmp_path / "app.py", APP.format(version="one"))
    write(tmp_path / "vendor" / "lib.py", "X = 1\n")
    server = serve("app:app", "--reload-exclude", "vendor")
    assert server.get()[2] == "one"
    for path in tmp_path.rglob("*"):  # plain reads: open/close events must not count
        if path.is_file():
            path.read_bytes()
    write(tmp_path / "notes.txt", "unrelated\n")
    write(tmp_path / "app.log", "a log line\n")
    write(tmp_path / "vendor" / "lib.py", "X = 2\n")
    write(tmp_path / "vendor" / "new.py", "Y = 1\n")
    py_compile.compile(str(tmp_path / "app.py"), cfile=cache_from_source(str(tmp_path / "app.py")))
    write(tmp_path / "control.py", "# the positive control\n")
    match = server.wait_line(RELOADED_RE)
    assert match.group(2) == "control.py"
    assert len(server.lines(RELOADED_RE)) == 1


def test_same_size_edits_in_one_second_are_all_served(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """A stale .pyc with the same whole-second mtime and size would pass validation."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    app = tmp_path / "app.py"
    stamp = int(time.time())
    write(app, APP.format(version="AAAA"))
    os.utime(app, (stamp, stamp))
    py_compile.compile(str(app), cfile=cache_from_source(str(app)))  # valid for "AAAA"
    server = serve("app:app", env=env)
    assert server.get()[2] == "AAAA"
    for version in ("BBBB", "CCCC"):
        write(app, APP.format(version=version))
        os.utime(app, (stamp, stamp))  # same second, same size: only the content differs
        server.wait_body(version)
    assert not Path(cache_from_source(str(app))).exists(), "a worker wrote user bytecode"


def test_syntax_error_keeps_serving_then_fix_reloads(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """The broken file is excluded from watching, yet fixing it reloads: it is watched
    explicitly once it failed."""
    write(tmp_path / "app.py", "import vendor.lib\n" + APP.format(version="one"))
    write(tmp_path / "vendor" / "__init__.py", "")
    write(tmp_path / "vendor" / "lib.py", "X = 1\n")
    server = serve("app:app", "--reload-exclude", "vendor")
    assert server.get()[2] == "one"
    write(tmp_path / "vendor" / "lib.py", "X = (1\n")  # excluded: no reload yet
    write(tmp_path / "app.py", "import vendor.lib\n" + APP.format(version="two"))
    error = server.wait_line(re.compile(r"Error: (\S+): SyntaxError: (.*)"))
    assert error.group(1) == os.path.join("vendor", "lib.py") + ":1"
    assert "still serving the previous version" in error.group(2)
    assert "X = (1" in server.output
    assert server.get()[2] == "one"
    write(tmp_path / "vendor" / "lib.py", "X = 2\n")
    server.wait_body("two")
    assert "lib.py" in server.wait_line(RELOADED_RE).group(2)


def test_exception_at_import_keeps_serving(tmp_path: Path, serve: Callable[..., Server]) -> None:
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app")
    assert server.get()[2] == "one"
    write(tmp_path / "app.py", "raise RuntimeError('boom')\n" + APP.format(version="two"))
    error = server.wait_line(re.compile(r"Error: app\.py:1: RuntimeError: boom"))
    assert "still serving" in error.string
    assert server.get()[2] == "one"
    write(tmp_path / "app.py", APP.format(version="three"))
    server.wait_body("three")


def test_broken_at_start_serves_error_page_until_fixed(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    write(tmp_path / "app.py", "def broken(:\n    pass <b>\n")
    server = serve("app:app")
    server.wait_line(re.compile(r"Error: app\.py:1: SyntaxError: .*serving an error page"))
    status, content_type, body = server.get(accept="text/html,application/xhtml+xml")
    assert (status, content_type) == (500, "text/html; charset=utf-8")
    assert "<code>app.py:1</code>" in body and "SyntaxError" in body and "def broken(:" in body
    status, content_type, body = server.get(accept="*/*")
    assert (status, content_type) == (500, "text/plain; charset=utf-8")
    assert "app.py:1: SyntaxError" in body and "<" not in body.split("\n\n")[0]
    write(tmp_path / "app.py", APP.format(version="fixed"))
    server.wait_body("fixed")
    assert server.wait_line(RELOADED_RE).group(2) == "app.py"


def test_concurrent_clients_see_no_failures_across_reloads(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    write(tmp_path / "app.py", APP.format(version="v0"))
    server = serve("app:app", "--no-access-log")
    stop = threading.Event()
    failures: list[str] = []
    counts = [0, 0, 0, 0]

    def client(index: int, keep_alive: bool) -> None:
        conn: Optional[http.client.HTTPConnection] = None
        while not stop.is_set():
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE)
            try:
                conn.request("POST", "/", body=b"x" * 100)  # POSTs are never retried by clients
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or not body.startswith(b"v"):
                    failures.append(f"{response.status} {body[:80]!r}")
                counts[index] += 1
                if keep_alive and not response.will_close:
                    continue
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # Not even a reused keep-alive connection may fail: the retiring worker answers
                # its next request (with Connection: close) instead of resetting it.
                failures.append(f"{'reused' if reused else 'new'} connection failed")
            except OSError as exc:
                failures.append(repr(exc))
            conn.close()
            conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(i, i % 2 == 0)) for i in range(4)]
    slow: list[tuple[int, str, str]] = []
    for thread in threads:
        thread.start()
    try:
        for version in ("v1", "v2", "v3", "v4"):
            mark = f"/slow?{version}"
            in_flight = threading.Thread(target=lambda mark=mark: slow.append(server.get(mark)))
            in_flight.start()
            started = tmp_path / f"{version}.started"
            wait_for(started.exists, DEADLINE, "the slow request to reach the serving worker")
            write(tmp_path / "app.py", APP.format(version=version))
            server.wait_body(version)
            in_flight.join(DEADLINE)
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE)
    assert failures == []
    assert all(count > 0 for count in counts)
    assert [s[0] for s in slow] == [200] * 4 and [s[2] for s in slow] == ["v0", "v1", "v2", "v3"]
    assert len(server.lines(RELOADED_RE)) == 4


@pytest.mark.parametrize("how", ["os._exit", "SIGKILL"])
def test_worker_crash_is_reported_and_restarted_on_change(
    tmp_path: Path, serve: Callable[..., Server], how: str
) -> None:
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app")
    if how == "os._exit":
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            server.get("/crash")
        said = "exited with code 7"
    else:
        os.kill(int(server.get("/pid")[2]), signal.SIGKILL)
        said = "was killed by SIGKILL"
    server.wait_line(re.compile(f"Error: the app's worker {said}"))
    status, _, body = server.get()
    assert status == 500 and said in body
    write(tmp_path / "app.py", APP.format(version="two"))
    server.wait_body("two")


# An app that starts a non-daemon thread: its interpreter would never exit on its own.
THREAD_AT_IMPORT = """
import threading, time
threading.Thread(target=lambda: time.sleep(3600)).start()
"""
# An import stuck in C code holding the GIL: no Python thread of the worker gets to run.
STUCK_IMPORT = """
import re
open("importing.txt", "w").close()
re.match(r"(a+)+$", "a" * 64 + "b")
"""


@pytest.mark.parametrize("variant", ["plain", "non-daemon thread", "import holding the GIL"])
def test_sigkill_of_the_supervisor_frees_the_port(
    tmp_path: Path, serve: Callable[..., Server], variant: str
) -> None:
    extra = THREAD_AT_IMPORT if variant == "non-daemon thread" else ""
    write(tmp_path / "app.py", APP.format(version="one") + extra)
    server = serve("app:app")
    assert server.get()[2] == "one"
    if variant == "import holding the GIL":
        write(tmp_path / "app.py", APP.format(version="two") + STUCK_IMPORT)
        wait_for((tmp_path / "importing.txt").exists, DEADLINE, "the stuck import to start")
    workers = server.descendants()
    assert workers
    server.proc.kill()
    server.proc.wait(STOP_DEADLINE)
    wait_for(lambda: not any(_alive(pid) for pid in workers), DEADLINE, "the workers to exit")
    # Nobody holds the port any more, once a spare that was starting at the kill (not among
    # the workers listed) has seen its control pipe close.
    wait_for(lambda: _port_free(server.port), DEADLINE, "the port to be free")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_signal_stops_supervisor_and_workers(
    tmp_path: Path, serve: Callable[..., Server], how: str
) -> None:
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app")
    assert server.get()[2] == "one"
    pids = [server.proc.pid, *server.descendants()]
    if how == "ctrl-c":  # the terminal signals the whole foreground group
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # gone since it was listed
                os.kill(pid, signal.SIGINT)
    else:  # a container runtime signals the main process only
        server.proc.terminate()
    assert server.proc.wait(STOP_DEADLINE) == 0
    wait_for(lambda: not any(_alive(pid) for pid in pids), DEADLINE, "every process to exit")
    assert "goodbye" in server.output
    assert "Traceback" not in server.output


def test_reload_include_watches_templates(tmp_path: Path, serve: Callable[..., Server]) -> None:
    write(tmp_path / "templates" / "index.html", "<p>one</p>")
    source = APP.format(version="").replace(
        "VERSION = ''", "VERSION = open('templates/index.html').read()"
    )
    write(tmp_path / "app.py", source)
    server = serve("app:app", "--reload-include", "*.html")
    assert server.get()[2] == "<p>one</p>"
    write(tmp_path / "templates" / "index.html", "<p>two</p>")
    server.wait_body("<p>two</p>")
    assert server.wait_line(RELOADED_RE).group(2) == os.path.join("templates", "index.html")


def test_idle_supervisor_uses_almost_no_cpu(tmp_path: Path, serve: Callable[..., Server]) -> None:
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app")
    assert server.get()[2] == "one"
    wait_for(lambda: len(server.descendants()) >= 2, DEADLINE, "the spare worker")
    pids = [server.proc.pid, *server.descendants()]
    wait_for(lambda: _settled(pids), DEADLINE, "start-up work to finish")
    before = [_cpu_seconds(pid) for pid in pids]
    time.sleep(2.0)  # the measurement window, not a wait for a condition
    used = [_cpu_seconds(pid) - b for pid, b in zip(pids, before)]
    assert used[0] <= 0.02, f"supervisor used {used[0]:.3f} s of CPU in 2 s idle"
    assert sum(used) <= 0.1, f"the process tree used {used} s of CPU in 2 s idle"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _settled(pids: list[int]) -> bool:
    """True if none of ``pids`` used CPU during 100 ms."""
    before = [_cpu_seconds(pid) for pid in pids]
    time.sleep(0.1)
    return [_cpu_seconds(pid) for pid in pids] == before


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_terminal_is_restored_after_a_worker_exits(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """The app puts the terminal in raw mode; once its worker is gone, echo is back."""
    import termios

    master, slave = os.openpty()
    try:
        write(tmp_path / "app.py", "import tty\ntty.setraw(0)\n" + APP.format(version="one"))
        launcher = (sys.executable, "-c", ON_TERMINAL, os.ttyname(slave), *PYTHON_M)
        server = serve("app:app", launcher=launcher)
        assert server.get()[2] == "one"
        assert not termios.tcgetattr(slave)[3] & termios.ECHO, "the app did not set raw mode"
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            server.get("/crash")
        wait_for(lambda: termios.tcgetattr(slave)[3] & termios.ECHO, DEADLINE, "echo restored")
    finally:
        os.close(master)
        os.close(slave)


def test_failure_summary_and_exit_descriptions() -> None:
    from simplewsgi.reload.failure import crash_report, summary
    from simplewsgi.reload.messages import FailureReport
    from simplewsgi.reload.process import describe_exit

    report = FailureReport(
        message="SyntaxError: invalid syntax\nsecond line",
        filename=os.path.abspath("app.py"),
        lineno=3,
        line="def broken(:",
        details="",
    )
    assert summary(report, "still serving") == (
        "app.py:3: SyntaxError: invalid syntax (still serving)\n    second line\n    def broken(:"
    )
    assert summary(crash_report("the worker exited with code 3"), "x").endswith("code 3 (x)")
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV"


def test_error_page_negotiates_html_and_escapes() -> None:
    from simplewsgi.reload.failure import error_app
    from simplewsgi.reload.messages import FailureReport

    report = FailureReport(
        message="NameError: <script>", filename=None, lineno=None, line=None, details="tb"
    )
    app = error_app(report)
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> None:
        statuses.append(status)

    local = {"REMOTE_ADDR": "127.0.0.1"}
    html = b"".join(app({**local, "HTTP_ACCEPT": "text/html"}, start_response)).decode()  # type: ignore[arg-type]
    text = b"".join(app(local, start_response)).decode()  # type: ignore[arg-type]
    remote = b"".join(app({"REMOTE_ADDR": "192.0.2.7"}, start_response)).decode()  # type: ignore[arg-type]
    assert statuses == ["500 Internal Server Error"] * 3
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert text.splitlines()[2] == "NameError: <script>"
    assert "NameError" not in remote and "script" not in remote  # details to loopback only


def test_drop_bytecode_removes_every_optimization_level(tmp_path: Path) -> None:
    from simplewsgi.reload.paths import drop_bytecode

    source = tmp_path / "mod.py"
    source.write_text("X = 1\n")
    cached = [Path(cache_from_source(str(source), optimization=o)) for o in ("", 1, 2)]
    for path in cached:
        py_compile.compile(str(source), cfile=str(path))
    drop_bytecode(frozenset({str(source), str(tmp_path / "notes.txt")}))
    assert not any(path.exists() for path in cached)


def _kill_recorded_child(path: Path) -> None:
    """Kill the process whose PID the test app wrote to ``path`` (the test started it)."""
    if path.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(path.read_text()), signal.SIGKILL)


@pytest.fixture(params=["pidfd", "no pidfd"])
def pidfd_env(request: pytest.FixtureRequest, tmp_path: Path) -> Optional[dict[str, str]]:
    """The supervisor's environment: as is, or with os.pidfd_open deleted at start-up (as on
    macOS or Linux before 5.3), so that the fallback is exercised here too."""
    if request.param == "pidfd":
        if not hasattr(os, "pidfd_open"):
            pytest.skip("this Python has no os.pidfd_open")
        return None
    hide = tmp_path / "no_pidfd"
    write(
        hide / "sitecustomize.py",
        "import os\nif hasattr(os, 'pidfd_open'):\n    del os.pidfd_open\n",
    )
    path = os.pathsep.join(filter(None, [str(hide), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_a_forked_child_does_not_hide_a_worker_crash(
    tmp_path: Path, serve: Callable[..., Server], pidfd_env: Optional[dict[str, str]]
) -> None:
    """The child inherits the worker's status pipe, so its end of file never comes; the
    supervisor must notice the exit itself (pidfd, or SIGCHLD without one), and still stop on
    SIGTERM."""
    forking = """
import multiprocessing, time
_child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,), daemon=True)
_child.start()
open("child.pid", "w").write(str(_child.pid))
"""
    write(tmp_path / "app.py", APP.format(version="one") + forking)
    try:
        server = serve("app:app", env=pidfd_env)
        assert server.get()[2] == "one"
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            server.get("/crash")
        server.wait_line(re.compile("Error: the app's worker exited with code 7"))
        server.proc.terminate()
        assert server.proc.wait(STOP_DEADLINE) == 0
    finally:
        _kill_recorded_child(tmp_path / "child.pid")


def test_the_apps_subprocesses_never_hold_the_port(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """Even a subprocess that leaves the worker's session (as a daemon does), and so outlives
    the stop, does not hold the port."""
    spawning = """
import subprocess
_child = subprocess.Popen(["sleep", "60"], close_fds=False, start_new_session=True)
open("child.pid", "w").write(str(_child.pid))
"""
    write(tmp_path / "app.py", APP.format(version="one") + spawning)
    try:
        server = serve("app:app")
        assert server.get()[2] == "one"
        server.proc.terminate()
        assert server.proc.wait(STOP_DEADLINE) == 0
        assert _alive(int((tmp_path / "child.pid").read_text()))  # the app's child lives on
        with socket.socket() as probe:  # yet nobody holds the port
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", server.port))
    finally:
        _kill_recorded_child(tmp_path / "child.pid")


def _recorded_pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_a_reload_and_a_stop_end_what_the_old_worker_started(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """A bundler or queue worker started at import is ended with its worker (SIGTERM to the
    worker's process group, SIGKILL after a grace), not left behind once per reload."""
    starting = """
import subprocess, sys
_child = subprocess.Popen(["sleep", "1000"])
_stubborn = subprocess.Popen(  # ignores SIGTERM: needs the SIGKILL after the grace
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
     "open('stubborn.ready', 'w').close(); time.sleep(1000)"]
)
with open("children.pid", "a") as record:
    record.write(f"{_child.pid} {_stubborn.pid}\\n")
"""
    record = tmp_path / "children.pid"
    write(tmp_path / "app.py", APP.format(version="one") + starting)
    try:
        server = serve("app:app")
        assert server.get()[2] == "one"
        first = _recorded_pids(record)
        assert len(first) == 2 and all(map(_alive, first))
        wait_for(lambda: (tmp_path / "stubborn.ready").exists(), DEADLINE, "SIGTERM ignored")
        write(tmp_path / "app.py", APP.format(version="two") + starting)
        server.wait_body("two")
        wait_for(lambda: not any(map(_alive, first)), DEADLINE, "the old worker's children")
        second = [pid for pid in _recorded_pids(record) if pid not in first]
        assert len(second) == 2 and all(map(_alive, second))
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(STOP_DEADLINE) == 0
        assert not any(map(_alive, second)), "a stop left the app's children running"
    finally:
        for pid in _recorded_pids(record):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_symlink_loops_in_a_polled_tree(tmp_path: Path, serve: Callable[..., Server]) -> None:
    """The poller lists each real directory once per walk: ``ln -s . a; ln -s . b`` used to
    make it walk forever (100% CPU, hundreds of MB, never serving, deaf to SIGTERM). A
    symlinked directory elsewhere is still watched, once."""
    project = tmp_path / "project"
    write(project / "app.py", APP.format(version="one"))
    write(tmp_path / "shared" / "lib.py", "X = 1\n")
    write(project / "sub" / "deeper" / "mod.py", "Y = 1\n")
    os.symlink(".", project / "a")
    os.symlink(".", project / "b")
    os.symlink("..", project / "sub" / "deeper" / "up")
    os.symlink(os.path.join("..", "shared"), project / "shared")
    hosted = Server(project, "app:app", "--reload-poll")
    try:
        assert hosted.get()[2] == "one"
        write(project / "app.py", APP.format(version="two"))
        hosted.wait_body("two")
        write(tmp_path / "shared" / "lib.py", "X = 2\n")
        reloads = hosted.wait_line(RELOADED_RE, count=2)
        assert reloads.group(2).endswith("lib.py")
        rss_kib = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{hosted.proc.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
        )
        assert rss_kib < 150 * 1024, f"supervisor RSS {rss_kib} KiB"
        hosted.proc.terminate()
        assert hosted.proc.wait(STOP_DEADLINE) == 0
    finally:
        hosted.kill()
        sys.stderr.write(f"--- server output ---\n{hosted.output}\n")


def test_a_callback_that_closes_another_descriptor_of_the_same_batch(tmp_path: Path) -> None:
    """One select() batch can hold a worker's pidfd (or SIGCHLD) and its status pipe; the
    first callback reaps the worker and closes the pipe, so the second must not run (it used
    to unregister a closed descriptor and crash the supervisor with KeyError at a stop)."""
    from simplewsgi.console import Console
    from simplewsgi.options import ServeOptions
    from simplewsgi.reload.events import Stop
    from simplewsgi.reload.supervisor import Supervisor

    options = ServeOptions(port=0, reload=True, reload_dirs=(str(tmp_path),))
    supervisor = Supervisor(options, Console(color=False))
    ran: list[int] = []
    first_r, first_w = os.pipe()
    second_r, second_w = os.pipe()
    ends = {first_r: second_r, second_r: first_r}

    def callback(fd: int) -> None:
        ran.append(fd)
        other = ends[fd]
        with contextlib.suppress(KeyError):
            supervisor._selector.unregister(other)
        supervisor._events.append(Stop(signal.SIGTERM))

    try:
        for fd in (first_r, second_r):
            supervisor._wake_on(callback, fd)
        os.write(first_w, b"!")
        os.write(second_w, b"!")
        assert isinstance(supervisor.next_event(), Stop)
        assert len(ran) == 1, ran
    finally:
        supervisor.close()
        for fd in (first_r, first_w, second_r, second_w):
            os.close(fd)


def test_a_ready_worker_is_not_taken_for_one_still_importing_at_a_stop(tmp_path: Path) -> None:
    """A worker sends READY before its first accept(); a stop signal read in the same wake-up
    used to be handled first, so a worker that had served was killed as still importing and
    the command said "interrupted before serving started" (exit 130; CI caught it with
    socket activation, where a request is answered as soon as the worker accepts)."""
    from simplewsgi.console import Console
    from simplewsgi.options import ServeOptions
    from simplewsgi.reload.supervisor import Supervisor

    write(tmp_path / "app.py", APP.format(version="one"))
    options = ServeOptions(
        app="app:app", app_dir=str(tmp_path), port=0, reload=True, reload_dirs=(str(tmp_path),)
    )
    supervisor = Supervisor(options, Console(color=False))
    try:
        supervisor.start()
        worker = supervisor.pending
        assert worker is not None
        # READY is in the pipe, unread: what the supervisor finds when a stop wakes it.
        readable, _, _ = select.select([worker.status], [], [], DEADLINE)
        assert readable, "the worker never said it was ready"
    finally:
        supervisor.close()
    assert supervisor.served
    assert worker.returncode == 0, "retired gracefully, not killed"


def test_a_file_app_found_through_app_dir_is_watched(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """``--app-dir proj sub/app.py``: the file is proj/sub/app.py for the importer, and the
    reloader must find (and watch) the same file, not refuse a directory that does not exist."""
    write(tmp_path / "proj" / "sub" / "app.py", APP.format(version="one"))
    server = serve("--app-dir", "proj", "sub/app.py:app")
    assert server.get()[2] == "one"
    write(tmp_path / "proj" / "sub" / "app.py", APP.format(version="two"))
    server.wait_body("two")


def test_project_files_named_like_the_standard_library_do_not_break_workers(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """email.py, json.py, select.py in the directory the server starts from shadowed the
    modules simplewsgi itself imports in a worker (``python -c`` puts the working directory
    first on sys.path), and no worker could start; plain serving was fine. (Run through the
    console script, as the README advises: ``python -m`` shadows them in the CLI itself.)"""
    for name in ("email", "json", "select", "html", "selectors"):
        write(tmp_path / f"{name}.py", "X = 1\n")
    write(tmp_path / "bin" / "simplewsgi", CONSOLE_SCRIPT)
    write(tmp_path / "app.py", APP.format(version="one"))
    server = serve("app:app", launcher=(sys.executable, str(tmp_path / "bin" / "simplewsgi")))
    assert server.get()[2] == "one"
    write(tmp_path / "app.py", APP.format(version="two"))
    server.wait_body("two")


@pytest.mark.parametrize("poll", [(), ("--reload-poll",)])
def test_a_symlinked_directory_inside_the_project_is_watched(
    tmp_path: Path, serve: Callable[..., Server], poll: tuple[str, ...]
) -> None:
    """``lib -> ../shared``: inotify does not follow symlinked directories, so their targets
    are watched as roots of their own; the poller walks through them."""
    shared = tmp_path / "shared"
    write(shared / "helper.py", "X = 1\n")
    project = tmp_path / "project"
    write(project / "app.py", APP.format(version="one"))
    os.symlink(shared, project / "lib")
    hosted = Server(project, "app:app", *poll)
    try:
        assert hosted.get()[2] == "one"
        write(shared / "helper.py", "X = 2\n")  # edited through its real path
        assert hosted.wait_line(RELOADED_RE).group(2).endswith("helper.py")
        write(project / "lib" / "helper.py", "X = 3\n")  # and through the link
        hosted.wait_line(RELOADED_RE, count=2)
    finally:
        hosted.kill()
        sys.stderr.write(f"--- server output ---\n{hosted.output}\n")


@pytest.mark.parametrize("poll", [(), ("--reload-poll",)])
def test_symlinks_to_the_root_or_above_are_not_walked(
    tmp_path: Path, serve: Callable[..., Server], poll: tuple[str, ...]
) -> None:
    """``ln -s / all`` or ``ln -s .. up`` inside the project would make the watcher take in
    the whole file system: such links are not followed, and the project still reloads."""
    write(tmp_path / "app.py", APP.format(version="one"))
    os.symlink("/", tmp_path / "all")
    os.symlink("..", tmp_path / "up")
    started = time.monotonic()
    server = serve("app:app", *poll)
    assert server.get()[2] == "one"
    assert time.monotonic() - started < 5.0
    write(tmp_path / "app.py", APP.format(version="two"))
    server.wait_body("two")
