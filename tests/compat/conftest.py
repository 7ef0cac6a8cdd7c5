"""The compatibility suite: each framework's app (``apps/``) served by the real ``simplewsgi
serve`` in a subprocess (the ``launch`` fixture), exercised over loopback with http.client and
raw sockets. Every module here is marked ``compat`` and ``e2e``; a module whose framework is not
importable is skipped, naming it (``pytest.importorskip``)."""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tests.commandline import DEADLINE, Server, write
from tests.helpers import wait_for

APPS = Path(__file__).resolve().parent / "apps"

# Installed into a served process by PYTHONPATH (see ``sendfile_spy``): every socket.sendfile
# call is appended to the file named by $COMPAT_SENDFILE_LOG as "offset count".
SPY = """\
import os, socket

_real = socket.socket.sendfile
_log = os.environ["COMPAT_SENDFILE_LOG"]

def _spy(self, file, offset=0, count=None):
    with open(_log, "a") as out:
        out.write(f"{offset} {count}\\n")
    return _real(self, file, offset, count)

socket.socket.sendfile = _spy
"""


def sendfile_spy(tmp_path: Path, pythonpath: str) -> tuple[dict[str, str], Path]:
    """Environment for ``launch`` that records each ``socket.sendfile`` of the served process,
    and the log file it writes."""
    write(tmp_path / "spy" / "sitecustomize.py", SPY)
    log = tmp_path / "sendfile.log"
    env = {"PYTHONPATH": f"{tmp_path / 'spy'}:{pythonpath}", "COMPAT_SENDFILE_LOG": str(log)}
    return env, log


def open_files(pid: int, path: Path) -> int:
    """How many descriptors of process ``pid`` are open on ``path`` (from /proc: Linux)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:  # closed since it was listed
            continue
    return count


def files_closed_after_use(server: Server, path: str, file: Path) -> None:
    """GET, HEAD, and a client gone mid-body (``file`` is large): the app's file is closed
    every time (the server closes the response, which closes the file)."""
    client = Client(server)
    try:
        assert client.get(path).body == file.read_bytes()
        assert client.request("HEAD", path).body == b""
    finally:
        client.close()
    with socket.create_connection(server.address, timeout=DEADLINE) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 ")
    wait_for(lambda: open_files(server.proc.pid, file) == 0, what=f"{file.name} closed")


class Reply:
    """A response read whole: status, the header list (repeats kept apart), the body."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.getheaders()
        self.body = response.read()

    def header(self, name: str) -> Optional[str]:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One keep-alive connection to a served app (http.client)."""

    def __init__(self, server: Server) -> None:
        self.conn = http.client.HTTPConnection(*server.address, timeout=DEADLINE)

    def request(
        self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None
    ) -> Reply:
        self.conn.request(method, path, body=body, headers=headers or {})
        return Reply(self.conn.getresponse())

    def get(self, path: str, headers: Optional[dict[str, str]] = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, body: Any, headers: Optional[dict[str, str]] = None) -> Reply:
        return self.request("POST", path, body, headers)

    @property
    def sock(self) -> Optional[socket.socket]:
        return self.conn.sock

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def serve_app(launch: Callable[..., Server]) -> Callable[..., Server]:
    """serve_app(APP, *options, cwd=apps/, **env) -> a Server answering on its port."""

    def start(spec: str, *args: str, cwd: Path = APPS, **env: str) -> Server:
        server = launch("serve", spec, "-p", "0", "--color", "never", *args, cwd=cwd, **env)
        server.address  # noqa: B018 - waits for the banner (fails if it exits first)
        return server

    return start


@pytest.fixture
def client() -> Any:
    """client(server) -> a Client; every one closed after the test."""
    made: list[Client] = []

    def connect(server: Server) -> Client:
        made.append(Client(server))
        return made[-1]

    yield connect
    for each in made:
        each.close()
