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
from simplewsgi.listen import expand_hosts
from simplewsgi.portholder import socket_holder
from tests.commandline import Server, cli_env, get, run_cli, write
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


def test_hosts_are_bound_once_each_and_never_beside_a_wildcard_that_covers_them() -> None:
    """Spellings of one address count once; an address a wildcard covers is left out (binding
    it too would fail with "address in use", naming ourselves)."""
    assert expand_hosts(["localhost"]) == ["127.0.0.1", "::1"]
    assert expand_hosts(["::1", "0:0::1", "localhost"]) == ["::1", "127.0.0.1"]
    assert expand_hosts(["127.0.0.1", "::ffff:127.0.0.1"]) == ["127.0.0.1"]
    assert expand_hosts(["", "127.0.0.1"]) == [""]
    assert expand_hosts(["0.0.0.0", "localhost"]) == ["0.0.0.0", "::1"]  # ::1 is not IPv4
    assert expand_hosts(["127.0.0.1", "::", "0.0.0.0", "localhost"]) == ["::"]
    assert expand_hosts(["Example.test", "example.test"]) == ["Example.test"]
    # IPv4 shorthands the socket calls read (inet_aton), bound as what they mean.
    assert expand_hosts(["127.0.0.1", "127.000.000.001", "127.1", "0x7f.1"]) == ["127.0.0.1"]
    assert expand_hosts(["127.1"]) == ["127.0.0.1"]
    assert expand_hosts(["LOCALHOST"]) == ["127.0.0.1", "::1"]


def test_two_spellings_of_one_address_are_served_once(launch: Callable[..., Server]) -> None:
    """They used to be bound twice: "no port was free on all of ... in 10 tries"."""
    server = launch("demo", "--host", "127.0.0.1", "--host", "127.000.000.001", "--port", "0")
    assert server.get()[0] == 200
    assert server.stop() == exits.OK


def test_the_holder_of_a_port_is_never_ourselves() -> None:
    """With several hosts, our own socket on the same port is not what is in the way."""
    with _listening_socket() as sock:
        assert socket_holder("::1", sock.getsockname()[1]) is None


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


@pytest.mark.parametrize("given", ["absolute", "relative"])
def test_a_live_unix_socket_is_refused_with_its_holder_named(
    tmp_path: Path, launch: Callable[..., Server], given: str
) -> None:
    """Also when it was bound by a relative path (the kernel's table shows it as given)."""
    path = tmp_path / "app.sock"
    first = launch("demo", "--uds", str(path) if given == "absolute" else path.name)
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
    env = cli_env(SIMPLEWSGI_UDS=str(tmp_path / "s"), SIMPLEWSGI_PORT="9000")  # as set
    done = run_cli("demo", cwd=tmp_path, env=env)  # (--uds would win over the variable)
    assert done.returncode == exits.USAGE and "drop $SIMPLEWSGI_PORT" in done.stderr
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


@pytest.mark.parametrize("count", ["0", ""])
def test_activation_that_passed_no_socket_is_no_activation(
    launch: Callable[..., Server], count: str
) -> None:
    """LISTEN_FDS=0 with our LISTEN_PID: no socket was passed, so --port is not refused."""
    own_pid = ("sh", "-c", 'export LISTEN_PID=$$; exec "$0" -m simplewsgi "$@"', sys.executable)
    server = launch("demo", "--port", "0", command=own_pid, LISTEN_FDS=count)
    assert server.get()[0] == 200
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


def test_a_busy_unix_socket_does_not_hang_the_start(tmp_path: Path) -> None:
    """A live server whose backlog is full does not answer connect() at once: it is in use,
    not a reason to wait forever."""
    path = str(tmp_path / "busy.sock")
    with socket.socket(socket.AF_UNIX) as busy:
        busy.bind(path)
        busy.listen(0)
        waiting = []
        try:
            while True:  # fill the backlog
                client = socket.socket(socket.AF_UNIX)
                client.setblocking(False)
                waiting.append(client)
                client.connect(path)
        except BlockingIOError:
            pass
        try:
            done = run_cli("demo", "--uds", path, cwd=tmp_path)
        finally:
            for client in waiting:
                client.close()
    assert done.returncode == exits.CANNOT_LISTEN
    assert "is in use" in done.stderr and "Traceback" not in done.stderr


def test_starts_racing_for_one_unix_socket_take_turns(tmp_path: Path) -> None:
    """The probe, removal, bind and listen() hold a lock on the directory: a second start
    waits for it instead of removing the first one's fresh socket."""
    import fcntl

    from simplewsgi.unixsocket import bind_unix

    path = str(tmp_path / "app.sock")
    result: list[Any] = []
    directory = os.open(str(tmp_path), os.O_RDONLY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        starter = threading.Thread(target=lambda: result.append(bind_unix(path)))
        starter.start()
        starter.join(0.5)
        assert starter.is_alive() and not os.path.exists(path), "it waits for the lock"
    finally:
        os.close(directory)  # releases the lock
    starter.join(DEADLINE)
    sock, inode = result[0]
    with sock:
        assert os.stat(path).st_ino == inode


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/PID/cwd")
def test_a_short_relative_unix_socket_path_in_a_deep_directory(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    """The kernel limits the path as bound (about 107 bytes), not its absolute form."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    assert len(str(deep / "a.sock")) > 108
    server = launch("demo", "--uds", "a.sock", cwd=deep)
    server.wait_for("Socket:\\s+a.sock")
    # The client needs a short path too: the server's working directory through /proc.
    assert get(UnixConnection(f"/proc/{server.proc.pid}/cwd/a.sock"))[0] == 200
    assert server.stop() == exits.OK
    assert not (deep / "a.sock").exists()


def test_an_unbound_socket_is_refused(tmp_path: Path, launch: Callable[..., Server]) -> None:
    """listen() on it would bind every interface on a random port."""
    with socket.socket() as unbound:
        fd = unbound.fileno()
        server = launch("demo", "--fd", str(fd), pass_fds=(fd,))
        assert server.wait() == exits.CANNOT_LISTEN
    assert "not bound" in server.plain and "bind it before passing it" in server.plain


def test_a_descriptor_number_beyond_any_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("demo", "--fd", str(2**31), cwd=tmp_path)
    assert done.returncode == exits.USAGE and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("extra", "status", "said"),
    [
        (("--port", "0"), exits.USAGE, "drop --port"),
        (("--uds", "x.sock"), exits.USAGE, "drop --uds"),
    ],
)
def test_socket_activation_with_another_listener_is_a_usage_error(
    tmp_path: Path, launch: Callable[..., Server], extra: tuple[str, ...], status: int, said: str
) -> None:
    with _listening_socket() as sock:
        fd = sock.fileno()
        server = launch(
            str(fd), "demo", *extra, command=(sys.executable, "-c", ACTIVATE), pass_fds=(fd,)
        )
        assert server.wait() == status
    assert "socket activation" in server.plain and said in server.plain


def test_malformed_socket_activation_is_an_error(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    """sd_listen_fds() fails on it too; serving on a port of our own instead would hide it."""
    with _listening_socket() as sock:
        fd = sock.fileno()
        activate = ACTIVATE.replace('"1"', '"one"')
        server = launch(str(fd), "demo", command=(sys.executable, "-c", activate), pass_fds=(fd,))
        assert server.wait() == exits.CANNOT_LISTEN
    assert "LISTEN_FDS='one'" in server.plain and "Traceback" not in server.plain


def test_handle_request_waits_on_every_socket() -> None:
    """A one-request script (an OAuth redirect) on 127.0.0.1 and ::1 sees the browser
    whichever it connects to."""
    first = _listening_socket()
    second = socket.socket(socket.AF_INET6)
    second.bind(("::1", 0))
    second.listen(16)

    def make(address: Any, handler: Any) -> WSGIServer:
        return WSGIServer(address, handler, sockets=[first, second])

    server = make_server("127.0.0.1", 0, hello, server_class=make)
    server.timeout = DEADLINE
    port = second.getsockname()[1]
    replies: list[tuple[int, str]] = []
    client = threading.Thread(
        target=lambda: replies.append(
            get(http.client.HTTPConnection("::1", port, timeout=DEADLINE))
        )
    )
    client.start()
    try:
        server.handle_request()
    finally:
        server.server_close()
    client.join(DEADLINE)
    assert replies == [(200, "hello")]


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_a_unix_peer_cannot_write_into_the_log(tmp_path: Path, stderr: Any) -> None:
    """Its bound path is the client's to choose: it never reaches the log."""
    path = str(tmp_path / "s.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)

    def make(address: Any, handler: Any) -> WSGIServer:
        return WSGIServer(address, handler, sockets=[listener])

    server = make_server("127.0.0.1", 0, hello, server_class=make)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.bind(str(tmp_path / "c\n127.0.0.1 forged \x1b[41m"))
            client.settimeout(DEADLINE)
            client.connect(path)
            client.sendall(b"GARBAGE\r\n\r\n")
            assert b" 400 " in client.recv(100)
        wait_for(lambda: "GARBAGE" in stderr.getvalue(), what="the 400 line")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)
    (line,) = [line for line in stderr.getvalue().splitlines() if line]
    assert line.startswith("- - - [") and "forged" not in line and "\x1b" not in line
