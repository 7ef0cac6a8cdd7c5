"""Where the command listens: several addresses, ``localhost`` as two, a unix socket, an
inherited descriptor and systemd socket activation, plainly and with ``--reload``; and the
core serving several listening sockets at once."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import stat
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from simplewsgi import exits
from simplewsgi.http.server import WSGIServer, make_server
from tests.commandline import Server, run_cli, write
from tests.helpers import DEADLINE, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="unix sockets, fd passing")

# Says where each request arrived and who sent it.
WHERE = """\
import os

def app(environ, start_response):
    keys = ("SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "LISTEN_FDS", "LISTEN_PID")
    body = " ".join(f"{key}={environ.get(key, os.environ.get(key, '-'))}" for key in keys)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""
RELOAD = [(), ("--reload",)]


class UnixConnection(http.client.HTTPConnection):
    """http.client over a unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=DEADLINE)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(self.path)


def get(conn: http.client.HTTPConnection, path: str = "/") -> tuple[int, str]:
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def fields(body: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in body.split())


def local_urls(server: Server) -> list[tuple[str, int]]:
    """(host, port) of every Local: line of the banner, once the banner is out."""
    server.wait_for("Press Ctrl\\+C to quit")
    found = []
    for line in server.plain.splitlines():
        if line.strip().startswith("Local:"):
            hostport = line.split("http://", 1)[1].rstrip("/")
            host, _, port = hostport.rpartition(":")
            found.append((host.strip("[]"), int(port)))
    return found


@pytest.mark.parametrize("reload", RELOAD)
def test_several_hosts_share_one_free_port(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    write(tmp_path / "where.py", WHERE)
    server = launch(
        "serve", "where:app", *reload, "--host", "127.0.0.1", "--host", "::1", "-p", "0"
    )
    (v4, v4_port), (v6, v6_port) = local_urls(server)
    assert (v4, v6) == ("127.0.0.1", "::1") and v4_port == v6_port
    for host in (v4, v6):
        status, body = get(http.client.HTTPConnection(host, v4_port, timeout=DEADLINE))
        assert status == 200
        assert fields(body)["REMOTE_ADDR"] == host and fields(body)["SERVER_NAME"] == host
    assert server.stop() == exits.OK


def test_localhost_listens_on_ipv4_and_ipv6(tmp_path: Path, launch: Callable[..., Server]) -> None:
    """Browsers try ::1 first for localhost; a server on 127.0.0.1 alone makes them wait."""
    server = launch("demo", "--host", "localhost", "-p", "0")
    urls = local_urls(server)
    assert [host for host, _ in urls] == ["127.0.0.1", "::1"]
    for host, port in urls:
        assert get(http.client.HTTPConnection(host, port, timeout=DEADLINE))[0] == 200
    assert "Warning" not in server.plain
    assert server.stop() == exits.OK


def test_a_wildcard_with_an_address_it_covers_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("demo", "--host", "0.0.0.0", "--host", "127.0.0.1", cwd=tmp_path)
    assert done.returncode == exits.USAGE
    assert "drop --host 127.0.0.1" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("demo", "--host", "::", "--host", "0.0.0.0", cwd=tmp_path)
    assert done.returncode == exits.USAGE and "drop --host 0.0.0.0" in done.stderr


@pytest.mark.parametrize("reload", RELOAD)
def test_unix_socket(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    write(tmp_path / "where.py", WHERE)
    path = tmp_path / "app.sock"
    server = launch("serve", "where:app", *reload, "--uds", str(path))
    server.wait_for("Socket:\\s+" + str(path))
    assert stat.S_ISSOCK(path.stat().st_mode)
    status, body = get(UnixConnection(str(path)))
    assert status == 200
    seen = fields(body)
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("localhost", "80")
    assert seen["REMOTE_ADDR"] == ""
    wait_for(lambda: "GET / HTTP/1.1 200" in server.plain, what="the access-log line")
    if reload:  # the file outlives a worker swap
        write(tmp_path / "where.py", WHERE + "# edited\n")
        server.wait_for("reloaded in")
        assert get(UnixConnection(str(path)))[0] == 200
    assert server.stop() == exits.OK
    assert not path.exists(), "the socket file is removed on exit"


def test_a_stale_unix_socket_is_replaced(tmp_path: Path, launch: Callable[..., Server]) -> None:
    """A server killed with SIGKILL leaves its socket file; nobody listens on it."""
    path = tmp_path / "app.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))
    assert path.exists()
    server = launch("demo", "--uds", str(path))
    server.wait_for("Socket:")
    assert get(UnixConnection(str(path)))[0] == 200
    assert server.stop() == exits.OK


def test_a_live_unix_socket_is_refused_with_its_holder_named(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    path = tmp_path / "app.sock"
    first = launch("demo", "--uds", str(path))
    first.wait_for("Socket:")
    second = launch("demo", "--uds", str(path))
    assert second.wait() == exits.CANNOT_LISTEN
    (line,) = second.plain.splitlines()
    assert line.startswith("Error: unix socket") and "in use" in line
    if sys.platform == "linux":
        assert f"PID {first.proc.pid}" in line
    assert get(UnixConnection(str(path)))[0] == 200, "the first server still serves"
    assert first.stop() == exits.OK


def test_a_file_that_is_not_a_socket_is_never_replaced(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious")
    server = launch("demo", "--uds", str(path))
    assert server.wait() == exits.CANNOT_LISTEN
    assert "not a socket" in server.plain and "Traceback" not in server.plain
    assert path.read_text() == "precious"


def test_uds_with_host_or_fd_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("demo", "--uds", str(tmp_path / "s"), "--port", "9000", cwd=tmp_path)
    assert done.returncode == exits.USAGE and "drop --port" in done.stderr
    done = run_cli("demo", "--uds", str(tmp_path / "s"), "--fd", "3", cwd=tmp_path)
    assert done.returncode == exits.USAGE and "give one" in done.stderr


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@pytest.mark.parametrize("reload", RELOAD)
def test_an_inherited_descriptor(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    with _listening_socket() as sock:
        port = sock.getsockname()[1]
        fd = sock.fileno()
        server = launch("serve", *reload, "--fd", str(fd), pass_fds=(fd,))
        assert local_urls(server) == [("127.0.0.1", port)]
    # Our copy is closed: the server's is what answers.
    assert get(http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE))[0] == 200
    assert server.stop() == exits.OK


def test_a_descriptor_that_is_not_a_listening_socket(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    read_end, write_end = os.pipe()
    try:
        server = launch("demo", "--fd", str(read_end), pass_fds=(read_end,))
        assert server.wait() == exits.CANNOT_LISTEN
        (line,) = server.plain.splitlines()
        assert line.startswith(f"Error: cannot listen on --fd {read_end}:")
        server = launch("demo", "--fd", "57")  # not open at all
        assert server.wait() == exits.CANNOT_LISTEN
        assert "Error: cannot listen on --fd 57" in server.plain
    finally:
        os.close(read_end)
        os.close(write_end)


# What systemd does before it starts a socket-activated service: the sockets from descriptor 3
# on, LISTEN_FDS their count, LISTEN_PID the service's own PID (the same after exec).
ACTIVATE = """\
import os, sys
os.dup2(int(sys.argv[1]), 3)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.executable, [sys.executable, "-m", "simplewsgi", *sys.argv[2:]])
"""


@pytest.mark.parametrize("reload", RELOAD)
def test_systemd_socket_activation(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    write(tmp_path / "where.py", WHERE)
    with _listening_socket() as sock:
        port, fd = sock.getsockname()[1], sock.fileno()
        server = launch(
            str(fd), "serve", "where:app", *reload,
            command=(sys.executable, "-c", ACTIVATE), pass_fds=(fd,),
        )  # fmt: skip
        assert local_urls(server) == [("127.0.0.1", port)]
    status, body = get(http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE))
    assert status == 200
    seen = fields(body)
    assert (seen["LISTEN_FDS"], seen["LISTEN_PID"]) == ("-", "-"), "not passed on to the app"
    assert seen["SERVER_PORT"] == str(port)
    assert server.stop() == exits.OK


def test_activation_meant_for_another_process_is_ignored(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    server = launch("demo", "-p", "0", LISTEN_FDS="1", LISTEN_PID="1")
    host, port = server.address
    assert get(http.client.HTTPConnection(host, port, timeout=DEADLINE))[0] == 200
    assert server.stop(signal.SIGTERM) == exits.OK


def test_the_core_serves_several_sockets_and_says_which_took_a_request() -> None:
    def where(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["SERVER_PORT"].encode()]

    first, second = _listening_socket(), _listening_socket()
    ports = [sock.getsockname()[1] for sock in (first, second)]

    def make(address: Any, handler: Any) -> WSGIServer:
        return WSGIServer(address, handler, sockets=[first, second])

    server = make_server("127.0.0.1", ports[0], where, server_class=make)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        for port in ports * 2:
            status, body = get(http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE))
            assert (status, body) == (200, str(port))
    finally:
        server.shutdown()  # socketserver's handshake works over several sockets too
        server.server_close()
        thread.join(DEADLINE)
    assert not thread.is_alive()
    assert first.fileno() == -1 and second.fileno() == -1, "server_close() closes them all"


def test_a_unix_socket_on_a_path_too_long(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 120)
    done = run_cli("demo", "--uds", str(path), cwd=tmp_path)
    assert done.returncode == exits.CANNOT_LISTEN
    assert (
        done.stderr.startswith("Error: cannot listen on unix socket")
        and "Traceback" not in done.stderr
    )
