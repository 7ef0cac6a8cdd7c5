"""Keyboard shortcuts, pdb and ``--open`` through the real command on a pseudo-terminal.

The command runs as a session leader whose controlling terminal is the pty's slave side (as in
a shell's window); the test types on the master side and reads what the command writes there.
After every way out, the terminal's attributes must be the ones it had before.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from simplewsgi import exits
from tests.commandline import DEADLINE, HELLO, Server, cli_env, write
from tests.helpers import wait_for

termios = pytest.importorskip("termios")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals")

# Runs the rest of argv as a session leader whose controlling terminal is argv[1], on 0, 1, 2.
ON_TERMINAL = (
    "import os, sys; os.setsid(); fd = os.open(sys.argv[1], os.O_RDWR); "
    "[os.dup2(fd, n) for n in (0, 1, 2)]; os.close(fd); os.execv(sys.argv[2], sys.argv[2:])"
)
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PORT_RE = re.compile(r"Local:\s+http://127\.0\.0\.1:(\d+)/")
KEYS_PLAIN = "Keys: o open, c clear, l log, q quit, h help"
KEYS_RELOAD = "Keys: r restart, o open, c clear, l log, q quit, h help"
MODES = {"plain": (), "reload": ("--reload",)}

APP = """\
import os, time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/debug":
        value = 40
        breakpoint()
        body = f"debugged {value}".encode()
    elif path == "/slow":
        open("slow-started", "w").close()
        time.sleep(3)
        body = b"slow"
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


class Tty:
    """``simplewsgi ARGS`` on a pseudo-terminal: type on it, read it, check its mode."""

    def __init__(
        self, args: tuple[str, ...], cwd: Path, env: dict[str, str], start: bool = True
    ) -> None:
        self.master, self.slave = os.openpty()
        self.original = termios.tcgetattr(self.slave)
        self._command = (sys.executable, "-m", "simplewsgi", *args)
        self._cwd, self._env = cwd, env
        self.proc: subprocess.Popen[bytes]  # set by start()
        if start:
            self.start()

    def start(self) -> None:
        """Run the command (a test may set the terminal's mode first)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ON_TERMINAL, os.ttyname(self.slave), *self._command],
            cwd=self._cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._seen = b""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._port = 0

    def _read(self) -> None:
        while not self._done.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    return
                with self._lock:
                    self._seen += chunk

    @property
    def text(self) -> str:
        """What the command wrote, without colors and carriage returns."""
        with self._lock:
            seen = self._seen
        return ANSI_RE.sub("", seen.decode(errors="replace")).replace("\r", "")

    def wait_for(self, pattern: str, after: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the output past offset ``after``."""
        compiled = re.compile(pattern)

        def found() -> re.Match[str] | None:
            match = compiled.search(self.text, after)
            if match is None and self.proc.poll() is not None:
                match = compiled.search(self.text, after)
                assert match is not None, f"exited {self.proc.returncode}:\n{self.text}"
            return match

        match: re.Match[str] = wait_for(found, DEADLINE, f"{pattern!r} on the terminal")
        return match

    def type(self, keys: str) -> int:
        """Type ``keys``; the output's length before, to look for what they caused after it."""
        mark = len(self.text)
        os.write(self.master, keys.encode())
        return mark

    @property
    def port(self) -> int:
        if not self._port:
            self._port = int(self.wait_for(PORT_RE.pattern).group(1))
        return self._port

    def get(self, *paths: str) -> tuple[int, str]:
        """GET each of ``paths`` (default ``/``) on one connection; the last status and body.
        When the last answer is in, the server has decided whether to log each one before it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        try:
            for path in paths or ("/",):
                conn.request("GET", path)
                response = conn.getresponse()
                answer = response.status, response.read().decode()
            return answer
        finally:
            conn.close()

    def lflag(self) -> int:
        flags: int = termios.tcgetattr(self.slave)[3]
        return flags

    def in_keys_mode(self) -> bool:
        flags = self.lflag()
        return not flags & (termios.ECHO | termios.ICANON) and bool(flags & termios.ISIG)

    def restored(self) -> bool:
        return bool(termios.tcgetattr(self.slave) == self.original)

    def wait(self) -> int:
        return self.proc.wait(DEADLINE)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)
        self._done.set()
        self._reader.join(DEADLINE)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def tty(tmp_path: Path) -> Iterator[Callable[..., Tty]]:
    """tty(*args, **env) -> Tty running ``simplewsgi *args`` in tmp_path; killed after."""
    started: list[Tty] = []

    def start(*args: str, start: bool = True, **env: str) -> Tty:
        terminal = Tty(args, tmp_path, cli_env(**env), start)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.close()
        print(
            f"--- simplewsgi {' '.join(terminal.proc.args[4:])} (exit {terminal.proc.returncode})"
        )
        print(terminal.text)


@pytest.fixture
def app(tmp_path: Path) -> str:
    write(tmp_path / "app.py", APP)
    return "app:app"


@pytest.mark.parametrize("mode", MODES)
def test_the_banner_announces_the_keys_and_q_quits(
    tty: Callable[..., Tty], app: str, mode: str
) -> None:
    """cbreak without echo while serving, Ctrl+C's ISIG kept; q is a graceful stop (exit 0,
    goodbye) and the terminal's mode is back as it was."""
    term = tty("serve", app, "-p", "0", *MODES[mode])
    term.wait_for(KEYS_RELOAD if mode == "reload" else KEYS_PLAIN)
    assert term.get()[0] == 200
    assert term.in_keys_mode()
    term.type("q")
    assert term.wait() == exits.OK
    assert "stopped, goodbye" in term.text
    assert term.restored()


EXITS = {
    "Ctrl+C": lambda term: term.type("\x03"),
    "SIGTERM": lambda term: term.proc.send_signal(signal.SIGTERM),
    "SIGHUP": lambda term: term.proc.send_signal(signal.SIGHUP),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", EXITS)
def test_the_terminal_is_restored_after_a_stop_signal(
    tty: Callable[..., Tty], app: str, mode: str, how: str
) -> None:
    term = tty("serve", app, "-p", "0", *MODES[mode])
    term.wait_for("Keys: ")
    assert term.get()[0] == 200  # served: a stop is graceful, not "before serving started"
    assert term.in_keys_mode()
    EXITS[how](term)
    assert term.wait() == exits.OK
    assert term.restored()


@pytest.mark.parametrize("mode", MODES)
def test_the_terminal_is_restored_after_ctrl_c_twice(
    tty: Callable[..., Tty], app: str, mode: str, tmp_path: Path
) -> None:
    """A request in flight, Ctrl+C, Ctrl+C again: quit now (exit 130), terminal restored."""
    term = tty("serve", app, "-p", "0", *MODES[mode])
    term.wait_for("Keys: ")
    slow = threading.Thread(target=lambda: _ignore_errors(term.get, "/slow"), daemon=True)
    slow.start()
    wait_for((tmp_path / "slow-started").exists, DEADLINE, "the slow request in flight")
    mark = term.type("\x03")
    term.wait_for(r"press Ctrl\+C again", mark)
    term.type("\x03")
    assert term.wait() == exits.INTERRUPTED
    assert term.restored()
    slow.join(DEADLINE)


def _ignore_errors(call: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(OSError, http.client.HTTPException):
        call(*args)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("mode", MODES)
def test_ctrl_z_gives_the_terminal_back_and_fg_takes_the_keys_up(
    tty: Callable[..., Tty], app: str, mode: str
) -> None:
    term = tty("serve", app, "-p", "0", *MODES[mode])
    term.wait_for("Keys: ")
    assert term.get()[0] == 200
    term.type("\x1a")  # Ctrl+Z: SIGTSTP to the foreground group
    wait_for(lambda: _state(term.proc.pid) == "T", DEADLINE, "the command stopped")
    assert term.restored()
    os.kill(term.proc.pid, signal.SIGCONT)  # what fg sends (it is still the foreground)
    wait_for(term.in_keys_mode, DEADLINE, "the keys' mode again")
    term.wait_for("access log off", term.type("l"))
    term.type("q")
    assert term.wait() == exits.OK
    assert term.restored()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_the_terminal_is_restored_when_the_supervisor_crashes(
    tty: Callable[..., Tty], app: str, tmp_path: Path
) -> None:
    """A bug in the supervisor's loop (here: handling the restart r asks for raises) ends the
    command with its traceback, and the terminal's mode is back."""
    write(
        tmp_path / "crash" / "sitecustomize.py",
        """\
        from simplewsgi.reload import supervisor

        def handle(self, event):
            raise RuntimeError("a bug in the loop")

        supervisor.Supervisor.handle = handle
        """,
    )
    pythonpath = os.pathsep.join([str(tmp_path / "crash"), cli_env()["PYTHONPATH"]])
    term = tty("serve", app, "-p", "0", "--reload", PYTHONPATH=pythonpath)
    term.wait_for(KEYS_RELOAD)
    term.type("r")
    assert term.wait() == 1
    assert "RuntimeError: a bug in the loop" in term.text
    assert term.restored()


@pytest.mark.parametrize("mode", MODES)
def test_l_turns_the_access_log_off_and_on(tty: Callable[..., Tty], app: str, mode: str) -> None:
    """Off: nothing logged; with --reload, a new worker (r) stays off; on: logged again. A
    worker hears the switch on its control pipe, a moment after the supervisor said it: the
    test waits for a probe request to be (or not be) logged before it looks."""
    term = tty("serve", app, "-p", "0", *MODES[mode])
    term.wait_for("Keys: ")
    term.get("/first")
    term.wait_for(r"GET /first HTTP/1\.1 200")
    term.wait_for("access log off", term.type("l"))
    _logged_when(term, lambda probe: probe not in term.text)
    # /hidden's line is decided (not written: the log is off) before its connection's next
    # request is read, so before the l below; its answer alone comes before that decision.
    term.get("/hidden", "/")
    if mode == "reload":  # a new worker keeps the switch: the serve command carries it
        old = term.get()[1]
        mark = term.type("r")
        term.wait_for(r"reloaded in \d+ ms \(r pressed\)", mark)
        wait_for(lambda: term.get("/hidden-after-restart", "/")[1] != old, DEADLINE, "new worker")
    term.wait_for("access log on", term.type("l"))
    _logged_when(term, lambda probe: f"GET {probe} HTTP/1.1 200" in term.text)
    assert "/hidden" not in term.text


def _logged_when(term: Tty, settled: Callable[[str], bool]) -> None:
    """Probe until ``settled(probe's path)``: a request, then on its connection a malformed
    one, whose line is always written; lines are written in the order they come, and a
    request's line comes after its answer is sent, so once the marker's line is out, the
    probe's is too if it is written at all (a marker on another connection may come first)."""
    probes = iter(range(1000))

    def probe() -> bool:
        number = next(probes)
        path = f"/probe-{number}"
        with socket.create_connection(("127.0.0.1", term.port), timeout=DEADLINE) as sock:
            sock.sendall(
                b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode()
                + b"GET /marker-%d HTTP/1.1\r\nBad Line\r\n\r\n" % number
            )
            while sock.recv(65536):  # answered 200, then 400, then closed
                pass
        term.wait_for(f"/marker-{number}\\b")
        return settled(path)

    wait_for(probe, DEADLINE, "the access-log switch to reach the server")


def test_r_restarts_the_app_in_a_new_worker(tty: Callable[..., Tty], app: str) -> None:
    term = tty("serve", app, "-p", "0", "--reload")
    term.wait_for(KEYS_RELOAD)
    before = term.get()[1]
    mark = term.type("r")
    term.wait_for(r"restarting \(r pressed\)", mark)
    term.wait_for(r"reloaded in \d+ ms \(r pressed\)", mark)
    # Another worker's pid (the old one may take one more connection as it stops).
    wait_for(lambda: term.get()[1] != before, DEADLINE, "the new worker")
    assert "GET / HTTP/1.1 200" in term.text


def test_r_without_reload_says_it_needs_reload(tty: Callable[..., Tty], app: str) -> None:
    term = tty("serve", app, "-p", "0")
    term.wait_for(KEYS_PLAIN)
    before = term.get()[1]
    term.wait_for("r restarts the app under --reload only", term.type("r"))
    assert term.get()[1] == before


def test_h_c_o_and_unknown_keys(tty: Callable[..., Tty], app: str, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = _browser(tmp_path, opened)
    term = tty("serve", app, "-p", "0", BROWSER=browser)
    term.wait_for(KEYS_PLAIN)
    mark = term.type("h")
    term.wait_for(r"o  open http://127\.0\.0\.1:\d+/ in the browser", mark)
    term.wait_for("q  quit", mark)
    term.wait_for("no shortcut for 'x'; h lists them", term.type("x"))
    term.type("\x1b[A")  # an arrow key: nothing
    term.type("o")
    wait_for(lambda: _complete(opened), DEADLINE, "the browser command")
    assert opened.read_text().strip() == f"http://127.0.0.1:{term.port}/"
    assert "no shortcut for '['" not in term.text


def test_c_clears_the_screen(tty: Callable[..., Tty], app: str) -> None:
    term = tty("serve", app, "-p", "0")
    term.wait_for(KEYS_PLAIN)
    term.type("c")
    wait_for(lambda: b"\x1b[H\x1b[2J" in term._seen, DEADLINE, "the clear-screen sequence")


def test_no_keys_leaves_the_terminal_alone(tty: Callable[..., Tty], app: str) -> None:
    term = tty("serve", app, "-p", "0", "--reload", SIMPLEWSGI_KEYS="0")
    term.wait_for(r"Press Ctrl\+C to quit")
    assert term.get()[0] == 200
    assert "Keys:" not in term.text
    assert term.lflag() & termios.ECHO and term.lflag() & termios.ICANON
    term.type("\x03")
    assert term.wait() == exits.OK


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("line_editing", ["readline", "no readline"])
def test_pdb_gets_the_terminal_and_keys_wait(
    tty: Callable[..., Tty], app: str, mode: str, line_editing: str, tmp_path: Path
) -> None:
    """A breakpoint() in a request: pdb prompts with the terminal in its own mode (without
    readline: exactly the mode it had at start, echo and line editing on), keys typed there
    are pdb's (l lists source, c continues: neither is a shortcut), and once the request goes
    on the keys are shortcuts again."""
    env = {}
    if line_editing == "no readline":
        write(
            tmp_path / "hide" / "sitecustomize.py", "import sys\nsys.modules['readline'] = None\n"
        )
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "hide"), cli_env()["PYTHONPATH"]])
    term = tty("serve", app, "-p", "0", *MODES[mode], **env)
    term.wait_for("Keys: ")
    answer: list[tuple[int, str]] = []
    request = threading.Thread(target=lambda: answer.append(term.get("/debug")), daemon=True)
    request.start()
    term.wait_for(r"\(Pdb\) ")
    if line_editing == "no readline":
        assert term.restored()
    mark = term.type("l\n")
    term.wait_for(r"breakpoint\(\)\n\s*\d+\s+->\s+body = ", mark)
    mark = term.type("p value + 2\n")
    term.wait_for(r"p value \+ 2\n42\n", mark)  # echoed, then pdb's answer
    term.type("c\n")
    request.join(DEADLINE)
    assert answer == [(200, "debugged 40")]
    term.wait_for(r"GET /debug HTTP/1\.1 200")
    assert "access log off" not in term.text and "no shortcut" not in term.text
    wait_for(term.in_keys_mode, DEADLINE, "the keys' mode again")
    term.wait_for("access log off", term.type("l"))
    term.type("q")
    assert term.wait() == exits.OK
    assert term.restored()


def _complete(opened: Path) -> bool:
    """The browser command wrote its line (the file exists from its open() on)."""
    return opened.exists() and opened.read_text().endswith("\n")


def _browser(tmp_path: Path, opened: Path) -> str:
    """A BROWSER command that appends the URL it is given to ``opened``."""
    script = write(
        tmp_path / "browser.py",
        f"""\
        #!{sys.executable}
        import sys
        import os
        if os.isatty(0) or os.getsid(0) != os.getpid():  # it must not share the terminal
            sys.exit("started with the server's terminal, in its session")
        with open({str(opened)!r}, "a") as out:
            out.write(sys.argv[1] + "\\n")
        """,
    )
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("mode", MODES)
def test_open_opens_the_browser_once_ready_and_not_on_reloads(
    launch: Callable[..., Server], tmp_path: Path, mode: str
) -> None:
    """Not on a terminal (keys off), --open still opens the banner's URL, once."""
    write(tmp_path / "hello.py", HELLO)
    opened = tmp_path / "opened.txt"
    server = launch(
        "serve", "hello:app", "-p", "0", "--open", *MODES[mode], BROWSER=_browser(tmp_path, opened)
    )
    _host, port = server.address
    wait_for(lambda: _complete(opened), DEADLINE, "the browser command")
    assert opened.read_text() == f"http://127.0.0.1:{port}/\n"
    assert "Keys:" not in server.stderr
    if mode == "reload":
        write(tmp_path / "hello.py", HELLO.replace("hello from", "hi from"))
        server.wait_for("reloaded in")
        assert server.get()[1].startswith("hi from")
    assert server.stop() == exits.OK
    assert opened.read_text() == f"http://127.0.0.1:{port}/\n"


def test_open_says_when_no_browser_can_be_found(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    """A BROWSER that cannot run is said, and no other browser is tried: without a display
    webbrowser would fall back to a text-mode one (lynx) that takes the server's terminal."""
    server = launch("demo", "-p", "0", "--open", BROWSER=str(tmp_path / "missing-browser"))
    server.wait_for(r"could not open http://127\.0\.0\.1:\d+/ in a browser: BROWSER \(")
    assert server.get()[0] == 200
    assert server.stop() == exits.OK


def test_open_never_falls_back_to_a_text_mode_browser(launch: Callable[..., Server]) -> None:
    """No BROWSER and no display: webbrowser would run lynx or w3m in the server's terminal;
    the command says why it opens nothing instead."""
    server = launch("demo", "-p", "0", "--open", BROWSER="", DISPLAY="", WAYLAND_DISPLAY="")
    server.wait_for(r"could not open http://127\.0\.0\.1:\d+/ in a browser: no graphical display")
    assert server.get()[0] == 200
    assert server.stop() == exits.OK


@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_twice_at_a_pdb_prompt_quits_and_restores_the_terminal(
    tty: Callable[..., Tty], app: str, mode: str
) -> None:
    """The prompt's request is in flight: the first Ctrl+C waits for it, the second quits;
    readline's mode (pdb's) does not outlive the command."""
    term = tty("serve", app, "-p", "0", *MODES[mode])
    term.wait_for("Keys: ")
    request = threading.Thread(target=lambda: _ignore_errors(term.get, "/debug"), daemon=True)
    request.start()
    term.wait_for(r"\(Pdb\) ")
    mark = term.type("\x03")
    term.wait_for(r"press Ctrl\+C again", mark)
    term.type("\x03")
    assert term.wait() == exits.INTERRUPTED
    assert term.restored()
    request.join(DEADLINE)


def test_keys_typed_before_they_are_read_are_dropped(
    tty: Callable[..., Tty], tmp_path: Path
) -> None:
    """A q typed while the app imports (plain serving: the keys are read, and announced, once
    it serves) is not a shortcut once the keys are read. (The supervisor reads them from its
    start, before any worker imports the app.)"""
    write(
        tmp_path / "slow.py",
        "import os, time\nopen('importing', 'w').close()\nwhile not os.path.exists('go'):\n"
        "    time.sleep(0.01)\n" + HELLO,
    )
    term = tty("serve", "slow:app", "-p", "0")
    wait_for((tmp_path / "importing").exists, DEADLINE, "the app importing")
    # The terminal echoes (line mode, before the keys are read): once the q is echoed, the
    # kernel has taken it in, before the app goes on (under load, a byte written to a
    # pseudo-terminal reaches its input queue later, possibly after the keys are read).
    term.wait_for("q", term.type("q"))
    (tmp_path / "go").touch()
    term.wait_for("Keys: ")
    assert term.get()[0] == 200
    assert term.proc.poll() is None and "goodbye" not in term.text
    term.wait_for("access log off", term.type("l"))


STDIN_APP = """\
import sys

def app(environ, start_response):
    open("reading", "w").close()
    line = sys.stdin.readline()
    body = f"read {line!r}".encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


def test_an_app_reading_stdin_never_blocks_the_supervisor(
    tty: Callable[..., Tty], tmp_path: Path
) -> None:
    """The app and the supervisor both wait for the terminal's bytes; which one gets them is
    the kernel's choice, so the line is typed again until the app has one (digits: no key's
    meaning). The supervisor, woken for bytes the app took, must not wait in a read for more
    (it then heard no stop signal until a key was pressed)."""
    write(tmp_path / "reader.py", STDIN_APP)
    term = tty("serve", "reader:app", "-p", "0", "--reload")
    term.wait_for(KEYS_RELOAD)
    answers: list[tuple[int, str]] = []
    client = threading.Thread(target=lambda: answers.append(term.get()))
    client.start()
    wait_for(lambda: (tmp_path / "reading").exists(), DEADLINE, "the app to read stdin")

    def answered() -> bool:
        if not answers:
            term.type("123\n")
            client.join(0.5)
        return bool(answers)

    wait_for(answered, DEADLINE, "the app to read a line")
    status, body = answers[0]
    assert status == 200 and body.startswith("read '") and body.endswith("\\n'"), body
    term.proc.terminate()
    assert term.wait() == exits.OK
    assert term.restored()


def test_a_terminal_another_program_reads_keys_on_is_not_claimed(
    tty: Callable[..., Tty], app: str
) -> None:
    """A second server on one terminal found it in cbreak mode, saved that as the mode to put
    back, and left the terminal without echo after both exited."""
    term = tty("serve", app, "-p", "0", start=False)
    cbreak = termios.tcgetattr(term.slave)
    cbreak[3] &= ~(termios.ECHO | termios.ICANON)
    termios.tcsetattr(term.slave, termios.TCSANOW, cbreak)
    term.start()
    term.wait_for(r"Press Ctrl\+C to quit")
    assert "Keys:" not in term.text
    term.proc.terminate()
    assert term.wait() == exits.OK
    assert term.lflag() == cbreak[3]  # as found: not ours to change
