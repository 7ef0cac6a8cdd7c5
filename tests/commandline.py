"""Running the real ``simplewsgi`` command in tests: a subprocess on real ports whose stderr
is collected as it comes, waited on with deadlines, killed by PID and reaped by the ``launch``
fixture (registered in conftest), which prints its output (pytest shows it when a test fails).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from click.testing import CliRunner

from simplewsgi import cli, exits, run
from simplewsgi.options import ServeOptions
from simplewsgi.reload import supervisor
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parent.parent
PACKAGE_DIR = str(REPO / "simplewsgi")
DEADLINE = 10.0
ESC = "\x1b["
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
PORT_RE = re.compile(r"Local:\s+http://(\[[^\]]+\]|[^/:\s]+):(\d+)/")
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

HELLO = """\
def app(environ, start_response):
    body = b"hello from " + __name__.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a launched CLI: ours, without inherited SIMPLEWSGI_* and color
    variables, with the repository importable."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SIMPLEWSGI_") and name not in ("NO_COLOR", "FORCE_COLOR")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path, env: Optional[dict[str, str]] = None
) -> subprocess.CompletedProcess[str]:
    """Run a command that is expected to end by itself."""
    return subprocess.run(
        [sys.executable, "-m", "simplewsgi", *args],
        cwd=cwd,
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def get(conn: http.client.HTTPConnection, path: str = "/") -> tuple[int, str]:
    """GET ``path`` on ``conn`` (then closed): the status and the body as text."""
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


class Server:
    """A running ``python -m simplewsgi ...``; a thread collects its stderr."""

    def __init__(
        self,
        args: tuple[str, ...],
        cwd: Path,
        env: dict[str, str],
        command: tuple[str, ...] = (sys.executable, "-m", "simplewsgi"),
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [*command, *args],
            cwd=cwd,
            env=env,
            pass_fds=pass_fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._err: list[str] = []
        self._out: list[str] = []
        self._readers = [
            threading.Thread(target=self._drain, args=(stream, sink), daemon=True)
            for stream, sink in ((self.proc.stderr, self._err), (self.proc.stdout, self._out))
        ]
        for reader in self._readers:
            reader.start()
        self._address: Optional[tuple[str, int]] = None

    @staticmethod
    def _drain(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    @property
    def plain(self) -> str:
        """stderr without color codes."""
        return ANSI_RE.sub("", self.stderr)

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first match of ``pattern`` in stderr; fails if the process exits first."""
        compiled = re.compile(pattern)

        def found() -> Optional[re.Match[str]]:
            match = compiled.search(self.plain)
            if match is None and self.proc.poll() is not None:
                match = compiled.search(self.plain)  # written just before exiting
                if match is None:
                    raise AssertionError(f"exited {self.proc.returncode}:\n{self.stderr}")
            return match

        match: re.Match[str] = wait_for(found, what=f"{pattern!r} in stderr")
        return match

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) from the banner's local URL, waiting for it."""
        if self._address is None:
            match = self.wait_for(PORT_RE.pattern)
            self._address = (match.group(1).strip("[]"), int(match.group(2)))
        return self._address

    @property
    def url(self) -> str:
        """http://host:port of the banner's local address (no trailing slash)."""
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def get(self, path: str = "/") -> tuple[int, str]:
        return get(http.client.HTTPConnection(*self.address, timeout=DEADLINE), path)

    def listening(self) -> bool:
        try:
            socket.create_connection(self.address, timeout=DEADLINE).close()
        except (ConnectionRefusedError, ConnectionResetError):  # reset: closed mid-handshake
            return False
        return True

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Signal the process and wait for it to exit; the exit status."""
        self.proc.send_signal(signum)
        return self.wait()

    def wait(self) -> int:
        status = self.proc.wait(DEADLINE)
        for reader in self._readers:
            reader.join(DEADLINE)
        return status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE)
        for reader in self._readers:
            reader.join(DEADLINE)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """launch(*args, cwd=tmp_path, **env) -> Server; every server is killed and reaped after.
    ``command`` runs instead of ``python -m simplewsgi``; ``pass_fds`` are inherited."""
    servers: list[Server] = []

    def start(
        *args: str,
        cwd: Optional[Path] = None,
        command: tuple[str, ...] = (sys.executable, "-m", "simplewsgi"),
        pass_fds: tuple[int, ...] = (),
        **env: str,
    ) -> Server:
        server = Server(args, cwd or tmp_path, cli_env(**env), command, pass_fds)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
        print(f"--- simplewsgi {' '.join(server.args)} (exit {server.proc.returncode})")
        print(server.stderr, server.stdout, sep="--- stdout:\n")


def serve_and_get(
    launch: Callable[..., Server], *args: str, path: str = "/", **env: str
) -> tuple[Server, str]:
    """Start ``simplewsgi *args``, GET ``path`` (expecting 200), stop with SIGINT (exit 0)."""
    server = launch(*args, **env)
    status, body = server.get(path)
    assert status == 200, body
    assert server.stop() == exits.OK
    return server, body


# --- argument parsing (in-process, CliRunner) ----------------------------------------------


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ServeOptions]:
    """parsed(*args, **env) -> the ServeOptions the command hands to run or the reloader."""
    seen: list[ServeOptions] = []
    for module, name in ((run, "serve"), (supervisor, "supervise")):
        monkeypatch.setattr(module, name, lambda options, console: seen.append(options))

    def parse(*args: str, **env: str) -> ServeOptions:
        result = CliRunner().invoke(cli.main, list(args), env=env)
        assert result.exit_code == exits.OK, result.output
        return seen.pop()

    return parse


def check_error(result: subprocess.CompletedProcess[str], status: int, *fragments: str) -> str:
    err = result.stderr
    assert result.returncode == status, err
    assert PACKAGE_DIR not in err, err  # no simplewsgi frame, no simplewsgi path
    assert len([line for line in err.splitlines() if line.startswith("Error: ")]) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert result.stdout == ""
    return err
