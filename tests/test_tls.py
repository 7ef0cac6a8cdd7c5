"""HTTPS in the core, on a loopback server: certificates made at test time by trustme, clients
that verify them (``ssl.create_default_context(cafile=...)``), and what must not happen over
TLS: a plaintext sendfile, a stalled accept loop, a traceback for a broken session, a stop that
waits for an idle TLS connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import trustme

from simplewsgi import WSGIRequestHandler, WSGIServer, make_server
from simplewsgi.http import tls
from simplewsgi.http.errors import TLSConfigError
from tests.conftest import ServerStderr
from tests.helpers import DEADLINE, WireReader, echo_environ, hello_app, serving, wait_for

BIG = 5 * 1024 * 1024 + 123  # a few MiB, not a multiple of any block size


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certs(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PEM files for localhost, 127.0.0.1 and ::1: cert, key, both in one, the CA."""
    where = tmp_path_factory.mktemp("certs")
    issued = ca.issue_cert("localhost", "127.0.0.1", "::1")
    files = {name: where / f"{name}.pem" for name in ("cert", "key", "both", "ca")}
    issued.cert_chain_pems[0].write_to_path(files["cert"])
    issued.private_key_pem.write_to_path(files["key"])
    issued.private_key_and_cert_chain_pem.write_to_path(files["both"])
    ca.cert_pem.write_to_path(files["ca"])
    return files


def client_context(certs: dict[str, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs["ca"]))


@contextlib.contextmanager
def serving_tls(
    app: Any, certs: dict[str, Path], handler: type[WSGIRequestHandler] = WSGIRequestHandler
) -> Iterator[WSGIServer]:
    """A loopback server given its context after make_server, as a library user would."""
    with serving(app, handler) as server:
        server.ssl_context = tls.server_context(str(certs["cert"]), str(certs["key"]))
        yield server


def https(server: WSGIServer, certs: dict[str, Path], host: str = "localhost") -> Any:
    return http.client.HTTPSConnection(
        host, server.server_address[1], timeout=DEADLINE, context=client_context(certs)
    )


def tls_socket(server: WSGIServer, certs: dict[str, Path]) -> ssl.SSLSocket:
    raw = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
    return client_context(certs).wrap_socket(raw, server_hostname="localhost")


def scheme_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = f"{environ['wsgi.url_scheme']} {environ.get('HTTPS')} {environ['REMOTE_PORT']}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_verifying_client_gets_https_in_the_environ(certs: dict[str, Path], host: str) -> None:
    with serving_tls(scheme_app, certs) as server:
        conn = https(server, certs, host)
        conn.request("GET", "/")
        reply = conn.getresponse()
        assert (reply.status, reply.read().split()[:2]) == (200, [b"https", b"on"])
        conn.close()


def test_ipv6_loopback_is_verified_too(certs: dict[str, Path]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = make_server("::1", 0, scheme_app)
    except OSError as error:
        pytest.skip(f"no IPv6 loopback: {error}")
    server.ssl_context = tls.server_context(str(certs["both"]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        conn = https(server, certs, "::1")
        conn.request("GET", "/")
        assert conn.getresponse().read().startswith(b"https on")
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)


def test_the_client_really_verifies_the_name(certs: dict[str, Path]) -> None:
    """The checks above could pass with verification off: a name the certificate does not
    carry must fail."""
    with serving_tls(hello_app, certs) as server:
        raw = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        with pytest.raises(ssl.SSLCertVerificationError), raw:
            client_context(certs).wrap_socket(raw, server_hostname="example.com")


def test_plain_server_environ_is_unchanged() -> None:
    with serving(hello_app) as server:
        assert server.ssl_context is None
        assert server.base_environ["wsgi.url_scheme"] == "http"
        assert "HTTPS" not in server.base_environ
        server.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        assert (server.base_environ["wsgi.url_scheme"], server.base_environ["HTTPS"]) == (
            "https",
            "on",
        )
        server.ssl_context = None
        assert server.base_environ["wsgi.url_scheme"] == "http"
        assert "HTTPS" not in server.base_environ


def test_keep_alive_and_a_chunked_body_over_one_tls_connection(certs: dict[str, Path]) -> None:
    with serving_tls(echo_environ, certs) as server:
        conn = https(server, certs)
        ports = set()
        for index in range(5):
            conn.request("POST", f"/{index}", body=b"x" * index)
            reply = conn.getresponse()
            assert reply.status == 200
            assert f'"body": "{"x" * index}"' in reply.read().decode()
            ports.add(conn.sock.getsockname()[1])
        parts = iter([b"hello ", b"chunked ", b"world"])
        headers = {"Transfer-Encoding": "chunked"}
        conn.request("POST", "/chunked", body=parts, headers=headers, encode_chunked=True)
        reply = conn.getresponse()
        assert '"body": "hello chunked world"' in reply.read().decode()
        ports.add(conn.sock.getsockname()[1])
        assert len(ports) == 1  # one connection for all six requests
        conn.close()


def test_pipelined_requests_over_tls(certs: dict[str, Path]) -> None:
    with serving_tls(echo_environ, certs) as server, tls_socket(server, certs) as sock:
        sock.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3)))
        reader = WireReader(sock)  # type: ignore[arg-type]
        paths = [reader.read().body for _ in range(3)]
        reader.close()
        assert [b'"path": "/%d"' % i in body for i, body in enumerate(paths)] == [True] * 3


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, str]:
    data = os.urandom(BIG)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_a_large_file_wrapper_response_is_encrypted_and_whole(
    certs: dict[str, Path], big_file: tuple[Path, str]
) -> None:
    """The core sends real files by socket.sendfile: over TLS every byte must still go through
    TLS (os.sendfile on the descriptor would put plaintext on the wire and break the session)."""
    path, digest = big_file

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    with serving_tls(app, certs) as server:
        conn = https(server, certs)
        for method in ("GET", "HEAD", "GET"):  # and the connection is still good after
            conn.request(method, "/big")
            reply = conn.getresponse()
            body = reply.read()
            assert reply.getheader("Content-Length") == str(BIG)
            if method == "GET":
                assert len(body) == BIG
                assert hashlib.sha256(body).hexdigest() == digest
            else:
                assert body == b""
        conn.close()


def test_plain_http_on_the_tls_port_is_told_to_use_https(
    certs: dict[str, Path], stderr: ServerStderr
) -> None:
    with serving_tls(hello_app, certs) as server:
        port = server.server_address[1]
        conn = http.client.HTTPConnection("localhost", port, timeout=DEADLINE)
        conn.request("GET", "/some/path?q=1")
        reply = conn.getresponse()
        body = reply.read().decode()
        assert reply.status == 400
        assert reply.getheader("Content-Type") == "text/plain; charset=utf-8"
        assert reply.getheader("Connection") == "close"
        assert f"use https://localhost:{port}/some/path?q=1" in body
        conn.close()
        # No Host (HTTP/1.0): the address it reached.
        with socket.create_connection(server.server_address[:2], timeout=DEADLINE) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answer = _until_closed(sock)
        assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
        assert f"use https://127.0.0.1:{port}/".encode() in answer
        # And the TLS port still serves TLS.
        conn = https(server, certs)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    assert "this port speaks HTTPS" in stderr.getvalue()


def _until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_tls_handshake_on_a_plain_port_gets_one_line_and_no_bytes(
    certs: dict[str, Path], stderr: ServerStderr
) -> None:
    with serving(hello_app) as server:
        port = server.server_address[1]
        raw = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_context(certs).wrap_bio(incoming, outgoing, server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            client.do_handshake()
        raw.sendall(outgoing.read())  # the ClientHello
        assert _until_closed(raw) == b""  # closed, nothing written back
        raw.close()
        log = wait_for(lambda: stderr.getvalue(), what="the log line")
    lines = [line for line in log.splitlines() if "TLS handshake on a plain HTTP port" in line]
    assert len(lines) == 1, log
    assert f"use http://127.0.0.1:{port}/" in lines[0]
    assert "Traceback" not in log


def client_hello(certs: dict[str, Path]) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context(certs).wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


class QuickHandshake(WSGIRequestHandler):
    header_timeout = 0.5


def test_a_trickled_handshake_is_cut_at_the_header_deadline(
    certs: dict[str, Path], stderr: ServerStderr
) -> None:
    """A byte every 0.05 s: never silent, so only one deadline for the whole handshake cuts it
    (a per-read timeout would let it hold a thread for the ClientHello's length x 0.05 s)."""
    hello = client_hello(certs)
    assert len(hello) * 0.05 > 5 * QuickHandshake.header_timeout  # the trickle would outlast it
    with serving_tls(hello_app, certs, QuickHandshake) as server:
        sock = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        started = time.monotonic()
        closed = False
        for byte in hello:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - started > DEADLINE:
                break
        if not closed:
            sock.settimeout(DEADLINE)
            with contextlib.suppress(OSError):
                closed = sock.recv(1) == b""
        elapsed = time.monotonic() - started
        sock.close()
        assert closed
        assert elapsed < 5 * QuickHandshake.header_timeout
        # The server kept serving meanwhile, and serves now.
        conn = https(server, certs)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    assert "TLS handshake not complete within 0.5 s" in stderr.getvalue()


def test_a_slow_handshake_does_not_stall_other_clients(certs: dict[str, Path]) -> None:
    """Half a ClientHello, then silence: the accept loop and other connections go on."""
    hello = client_hello(certs)
    with serving_tls(hello_app, certs) as server:
        stalled = [socket.create_connection(server.server_address[:2]) for _ in range(3)]
        for sock in stalled:
            sock.sendall(hello[: len(hello) // 2])
        try:
            started = time.monotonic()
            conn = https(server, certs)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
            assert time.monotonic() - started < WSGIRequestHandler.header_timeout / 2
        finally:
            for sock in stalled:
                sock.close()


def test_a_client_that_does_not_trust_the_certificate(
    certs: dict[str, Path], stderr: ServerStderr
) -> None:
    """It aborts the handshake: one quiet line, and the server keeps serving."""
    with serving_tls(hello_app, certs) as server:
        raw = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        untrusting = ssl.create_default_context()  # the system's CAs: not ours
        with pytest.raises(ssl.SSLCertVerificationError), raw:
            untrusting.wrap_socket(raw, server_hostname="localhost")
        conn = https(server, certs)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        log = wait_for(lambda: "TLS handshake failed" in stderr.getvalue() and stderr.getvalue())
    assert len([line for line in log.splitlines() if "TLS handshake failed" in line]) == 1
    assert "does not trust this certificate" in log
    assert "Traceback" not in log


def test_silent_and_empty_connections_are_closed_quietly(
    certs: dict[str, Path], stderr: ServerStderr
) -> None:
    with serving_tls(hello_app, certs, QuickHandshake) as server:
        socket.create_connection(server.server_address[:2]).close()  # closed at once
        with socket.create_connection(server.server_address[:2], timeout=DEADLINE) as sock:
            assert _until_closed(sock) == b""  # silent: closed at the deadline
        conn = https(server, certs)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    assert stderr.getvalue().count("\n") == 1  # the request's line only


def test_a_broken_tls_session_is_a_disconnect_not_an_error(
    certs: dict[str, Path], stderr: ServerStderr
) -> None:
    """Garbage in place of a TLS record after the handshake: a closed connection, no
    traceback, no 500 attempt."""
    with serving_tls(echo_environ, certs) as server, tls_socket(server, certs) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        # A record of application data whose authentication cannot hold, on the same stream.
        raw = socket.socket(fileno=os.dup(sock.fileno()))
        raw.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
        raw.close()
        sock.settimeout(DEADLINE)
        with contextlib.suppress(ssl.SSLError, OSError):
            assert sock.recv(65536) == b""
        wait_for(lambda: "client disconnected" in stderr.getvalue(), what="the disconnect line")
    log = stderr.getvalue()
    assert "TLSDisconnect" in log
    assert "Traceback" not in log and " 500 " not in log


def test_a_client_leaving_mid_download_is_a_disconnect(
    certs: dict[str, Path], big_file: tuple[Path, str], stderr: ServerStderr
) -> None:
    path, _ = big_file

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    with serving_tls(app, certs) as server, tls_socket(server, certs) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # a reset, with most of the file unsent
        wait_for(lambda: "client disconnected" in stderr.getvalue(), what="the disconnect line")
    assert "Traceback" not in stderr.getvalue()


def test_a_stop_closes_idle_tls_connections_at_once(certs: dict[str, Path]) -> None:
    """The server shuts down the socket it accepted; the TLS session on its duplicate sees
    the end at once instead of waiting out the keep-alive timeout."""
    server = make_server("127.0.0.1", 0, hello_app)
    server.ssl_context = tls.server_context(str(certs["both"]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    conn = https(server, certs)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"Hello, world!"
        wait_for(lambda: server.waiting_connections() == 1, what="the idle keep-alive connection")
        started = time.monotonic()
        server.shutdown()
        server.server_close()
        assert time.monotonic() - started < WSGIRequestHandler.keep_alive_timeout / 2
    finally:
        conn.close()
        thread.join(DEADLINE)


def test_beyond_max_connections_a_tls_client_gets_a_close_not_plaintext(
    certs: dict[str, Path],
) -> None:
    class One(WSGIServer):
        max_connections = 1

    server = make_server("127.0.0.1", 0, hello_app, server_class=One)
    server.ssl_context = tls.server_context(str(certs["both"]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with tls_socket(server, certs) as first:
            first.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert first.recv(1024).startswith(b"HTTP/1.1 200")
            with socket.create_connection(server.server_address[:2], timeout=DEADLINE) as second:
                assert _until_closed(second) == b""
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)


def test_a_callers_context_gets_the_disconnect_reporting_socket(certs: dict[str, Path]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certs["cert"]), str(certs["key"]))
    with serving(scheme_app) as server:
        server.ssl_context = context
        conn = https(server, certs)
        conn.request("GET", "/")
        assert conn.getresponse().read().startswith(b"https on")
        conn.close()
    assert context.sslsocket_class is tls.TLSSocket


# -- server_context: what is wrong with the files, in words ------------------------------------


@pytest.fixture(scope="module")
def encrypted_key(certs: dict[str, Path]) -> Path:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs["key"].read_bytes(), password=None)
    path = certs["key"].with_name("encrypted.pem")
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"correct horse"),
        )
    )
    return path


def test_an_encrypted_key_with_its_password(certs: dict[str, Path], encrypted_key: Path) -> None:
    context = tls.server_context(str(certs["cert"]), str(encrypted_key), "correct horse")
    assert isinstance(context, ssl.SSLContext)


@pytest.mark.parametrize(
    ("files", "password", "expected"),
    [
        (("missing", None), None, "cannot read the certificate file .*missing"),
        (("key", None), None, "key.pem holds no PEM certificate"),
        (("cert", None), None, "cert.pem holds no private key: give the key file too"),
        (("cert", "ca"), None, "ca.pem holds no PEM private key"),
        (("cert", "encrypted"), None, "encrypted.pem is encrypted: give its password"),
        (("cert", "encrypted"), "wrong", "wrong password for the private key in .*encrypted"),
        (("cert", "other"), None, "other.pem does not match the certificate in .*cert.pem"),
    ],
)
def test_unusable_files_are_one_clear_error(
    ca: trustme.CA,
    certs: dict[str, Path],
    encrypted_key: Path,
    files: tuple[str, str | None],
    password: str | None,
    expected: str,
) -> None:
    other = certs["key"].with_name("other.pem")
    ca.issue_cert("localhost").private_key_pem.write_to_path(other)
    where = certs["key"].parent

    def path(name: str | None) -> str | None:
        return None if name is None else str(where / f"{name}.pem")

    with pytest.raises(TLSConfigError, match=expected):
        tls.server_context(path(files[0]) or "", path(files[1]), password)


def test_plain_serving_loads_no_tls_code() -> None:
    """In a fresh interpreter, a plain request served: neither the core's TLS module nor the
    certificates module nor cryptography is loaded."""
    code = (
        "import sys, socket, threading, simplewsgi.run, simplewsgi.cli\n"
        "from simplewsgi import make_server, demo_app\n"
        "s = make_server('127.0.0.1', 0, demo_app)\n"
        "threading.Thread(target=s.handle_request).start()\n"
        "c = socket.create_connection(s.server_address)\n"
        "c.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
        "assert c.recv(100).startswith(b'HTTP/1.0 200')\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "simplewsgi.http.handler" in loaded
    assert sorted(loaded & {"simplewsgi.http.tls", "simplewsgi.certificates", "cryptography"}) == []


class QuickTLS(WSGIRequestHandler):
    header_timeout = 0.6
    keep_alive_timeout = 0.3


def test_the_deadlines_hold_over_tls(certs: dict[str, Path], stderr: ServerStderr) -> None:
    """An idle keep-alive TLS connection is closed at its timeout; a request head trickled
    after the handshake gets 408 at the head's deadline."""
    with serving_tls(hello_app, certs, QuickTLS) as server:
        with tls_socket(server, certs) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            reader = WireReader(sock)  # type: ignore[arg-type]
            assert reader.read().body == b"Hello, world!"
            started = time.monotonic()
            assert reader.at_eof()
            assert time.monotonic() - started < DEADLINE / 2
            reader.close()
        with tls_socket(server, certs) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            answer = b""
            deadline = time.monotonic() + DEADLINE
            sock.settimeout(0.1)
            while not answer and time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X")  # one byte of an endless header line
                with contextlib.suppress(socket.timeout):
                    answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
    assert "request head not complete within 0.6 s" in stderr.getvalue()


def test_a_close_delimited_response_ends_with_close_notify(certs: dict[str, Path]) -> None:
    """HTTP/1.0 without a length ends when the server closes: over TLS it must say so with a
    close_notify, or a strict client (OpenSSL 3, curl) reports a truncated body."""

    def stream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"one ", b"two"])

    with serving_tls(stream, certs) as server:
        raw = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        strict = client_context(certs).wrap_socket(
            raw, server_hostname="localhost", suppress_ragged_eofs=False
        )
        with strict:
            strict.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := strict.recv(65536):  # SSLEOFError without a close_notify
                data += chunk
        assert data.endswith(b"\r\n\r\none two")


@pytest.mark.timeout(10)
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_or_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    """/dev/zero would be read forever, a FIFO would block: only regular files, and only
    as much as a certificate chain can be."""
    with pytest.raises(TLSConfigError, match="/dev/zero is not a regular file"):
        tls.server_context("/dev/zero")
    huge = tmp_path / "huge.pem"
    with huge.open("wb") as file:
        file.truncate(64 * 1024 * 1024)
    with pytest.raises(TLSConfigError, match=r"huge\.pem is larger than"):
        tls.server_context(str(huge))


def test_a_stop_during_a_handshake_is_not_blamed_on_the_client(
    certs: dict[str, Path], stderr: ServerStderr
) -> None:
    hello = client_hello(certs)
    server = make_server("127.0.0.1", 0, hello_app)
    server.ssl_context = tls.server_context(str(certs["both"]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    with socket.create_connection(server.server_address[:2], timeout=DEADLINE) as sock:
        sock.sendall(hello)
        # The server's answer (ServerHello...) is readable: it now waits for our next flight.
        assert select.select([sock], [], [], DEADLINE)[0]
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)
        assert _until_closed(sock).startswith(b"\x16\x03")  # its handshake flight, then EOF
    assert "TLS handshake" not in stderr.getvalue()


def test_the_constructor_argument_and_handle_request_serve_one_tls_request(
    certs: dict[str, Path],
) -> None:
    """``WSGIServer(..., ssl_context=)``, and wsgiref's ``handle_request()``: when it returns,
    the one request was served over TLS, in the calling thread."""
    context = tls.server_context(str(certs["cert"]), str(certs["key"]))
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, ssl_context=context)
    server.set_app(scheme_app)
    assert server.base_environ["wsgi.url_scheme"] == "https"
    replies: list[bytes] = []

    def client() -> None:
        conn = https(server, certs)
        conn.request("GET", "/")
        replies.append(conn.getresponse().read())
        conn.close()

    thread = threading.Thread(target=client)
    thread.start()
    try:
        server.handle_request()
        thread.join(DEADLINE)
    finally:
        server.server_close()
    assert replies and replies[0].startswith(b"https on")
