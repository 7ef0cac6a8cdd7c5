"""HTTPS through the real command: ``--certfile``/``--keyfile``/``--keyfile-password`` and
``--tls-self-signed``, with and without ``--reload``, with clients that verify the certificate.

Certificates are made at test time (trustme); the self-signed one is kept in a temporary
``XDG_CACHE_HOME``, never in the real home.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import sys
import textwrap
from pathlib import Path
from typing import Callable, Optional

import pytest
import trustme

from simplewsgi import exits
from simplewsgi.certificates import SELF_SIGNED, SELF_SIGNED_CRT
from tests.commandline import DEADLINE, Server, cli_env, run_cli, write
from tests.helpers import descendants, wait_for

HTTPS_RE = re.compile(r"Local:\s+https://(\[[^\]]+\]|[^/:\s]+):(\d+)/")
FINGERPRINT_RE = re.compile(r"SHA-256:\s+((?:[0-9A-F]{2}:){31}[0-9A-F]{2})")
PASSWORD = "correct horse battery staple"
SCHEME_APP = """\
VERSION = "one"


def app(environ, start_response):
    body = f"{VERSION} {environ['wsgi.url_scheme']} {environ.get('HTTPS')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1", "::1")
    files = {name: where / f"{name}.pem" for name in ("cert", "key", "both", "ca", "other")}
    issued.cert_chain_pems[0].write_to_path(files["cert"])
    issued.private_key_pem.write_to_path(files["key"])
    issued.private_key_and_cert_chain_pem.write_to_path(files["both"])
    ca.cert_pem.write_to_path(files["ca"])
    ca.issue_cert("localhost").private_key_pem.write_to_path(files["other"])
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(files["key"].read_bytes(), password=None)
    files["encrypted"] = where / "encrypted.pem"
    files["encrypted"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    return files


def address(server: Server) -> tuple[str, int]:
    match = server.wait_for(HTTPS_RE.pattern)
    return match.group(1).strip("[]"), int(match.group(2))


def get(server: Server, cafile: Path, host: str = "localhost", path: str = "/") -> str:
    port = address(server)[1]  # the banner: the certificate is ready
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection(host, port, timeout=DEADLINE, context=context)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        assert reply.status == 200
        return reply.read().decode()
    finally:
        conn.close()


def errors_only(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("command", "files"),
    [("serve", ("cert", "key")), ("demo", ("both", None))],
)
def test_certfile_and_keyfile_serve_https(
    launch: Callable[..., Server],
    tmp_path: Path,
    certs: dict[str, Path],
    command: str,
    files: tuple[str, Optional[str]],
) -> None:
    write(tmp_path / "schemes.py", SCHEME_APP)
    args = [command, *(["schemes:app"] if command == "serve" else []), "--port", "0"]
    args += ["--certfile", str(certs[files[0]])]
    if files[1]:
        args += ["--keyfile", str(certs[files[1]])]
    server = launch(*args)
    for host in ("localhost", "127.0.0.1"):
        body = get(server, certs["ca"], host)
        assert ("one https on" in body) if command == "serve" else ("'https'" in body)
    assert server.stop() == exits.OK
    assert "Local:   https://127.0.0.1:" in server.plain
    assert "SHA-256" not in server.plain  # the fingerprint line is for self-signed ones


def test_self_signed_is_made_once_then_reused_across_restarts(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    server = launch(
        "demo", "--port", "0", SIMPLEWSGI_TLS_SELF_SIGNED="1", XDG_CACHE_HOME=str(cache)
    )
    crt = cache / "simplewsgi" / SELF_SIGNED_CRT
    for host in ("localhost", "127.0.0.1"):
        assert "wsgi.url_scheme = 'https'" in get(server, crt, host)
    first = FINGERPRINT_RE.search(server.plain)
    assert first is not None, server.plain
    der = ssl.PEM_cert_to_DER_cert(crt.read_text())
    assert first.group(1).replace(":", "") == hashlib.sha256(der).hexdigest().upper()
    assert str(crt) in server.plain
    assert "made a self-signed certificate" in server.plain
    assert server.stop() == exits.OK
    assert oct((cache / "simplewsgi").stat().st_mode & 0o777) == "0o700"
    assert oct((cache / "simplewsgi" / SELF_SIGNED).stat().st_mode & 0o777) == "0o600"

    again = launch("demo", "--port", "0", "--tls-self-signed", XDG_CACHE_HOME=str(cache))
    assert "wsgi.url_scheme = 'https'" in get(again, crt)
    second = FINGERPRINT_RE.search(again.plain)
    assert second is not None and second.group(1) == first.group(1)
    assert "made a self-signed certificate" not in again.plain
    assert again.stop() == exits.OK


def test_without_cryptography_the_error_names_the_extra(tmp_path: Path) -> None:
    hide = write(
        tmp_path / "hide" / "sitecustomize.py", "import sys\nsys.modules['cryptography'] = None\n"
    )
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(hide.parent), env["PYTHONPATH"]])
    result = run_cli("demo", "--port", "0", "--tls-self-signed", cwd=tmp_path, env=env)
    assert result.returncode == exits.USAGE, result.stderr
    assert errors_only(result.stderr) == [
        "Error: --tls-self-signed needs the cryptography package: pip install 'simplewsgi[tls]'"
    ]
    assert not (tmp_path / "cache" / "simplewsgi" / SELF_SIGNED).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-self-signed", "--certfile", "{cert}"], "--tls-self-signed makes its own"),
        (["--keyfile", "{key}"], "--keyfile needs --certfile"),
        (["--keyfile-password", "x"], "--keyfile-password needs --certfile"),
        (["--tls-self-signed", "--keyfile-password", "x"], "--keyfile-password needs --certfile"),
        (["--certfile", "{missing}"], "does not exist"),
    ],
)
def test_tls_options_that_do_not_go_together(
    tmp_path: Path, certs: dict[str, Path], args: list[str], message: str
) -> None:
    names = {"cert": certs["cert"], "key": certs["key"], "missing": tmp_path / "nope.pem"}
    argv = [arg.format(**names) for arg in args]
    result = run_cli(
        "demo", "--port", "0", *argv, cwd=tmp_path, env=cli_env(XDG_CACHE_HOME=str(tmp_path))
    )
    assert result.returncode == exits.USAGE
    assert message in result.stderr
    assert "Local:" not in result.stderr


@pytest.mark.parametrize("reload", [False, True], ids=["plain", "reload"])
@pytest.mark.parametrize(
    ("key", "password", "message"),
    [
        ("other", None, "does not match the certificate in"),
        ("encrypted", None, "is encrypted: give its password with --keyfile-password"),
        ("encrypted", "wrong", "wrong password for the private key in"),
        ("ca", None, "holds no PEM private key"),
    ],
)
def test_unusable_files_are_one_error_before_serving(
    tmp_path: Path,
    certs: dict[str, Path],
    key: str,
    password: Optional[str],
    message: str,
    reload: bool,
) -> None:
    write(tmp_path / "schemes.py", SCHEME_APP)
    args = ["serve", "schemes:app", "--port", "0", "--certfile", str(certs["cert"])]
    args += ["--keyfile", str(certs[key]), *(["--reload"] if reload else [])]
    env = cli_env(**({"SIMPLEWSGI_KEYFILE_PASSWORD": password} if password else {}))
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert result.returncode == exits.USAGE, result.stderr
    lines = errors_only(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("given", ["argv", "environment"])
def test_reload_with_an_encrypted_key_keeps_the_password_out_of_workers(
    launch: Callable[..., Server], tmp_path: Path, certs: dict[str, Path], given: str
) -> None:
    """The password reaches workers through their control pipe: neither their command line
    nor their environment (readable in /proc) holds it; a change still reloads, over https."""
    app = write(tmp_path / "schemes.py", SCHEME_APP)
    args = ["serve", "schemes:app", "--port", "0", "--reload"]
    args += ["--certfile", str(certs["cert"]), "--keyfile", str(certs["encrypted"])]
    env = {}
    if given == "argv":
        args += ["--keyfile-password", PASSWORD]
    else:
        env["SIMPLEWSGI_KEYFILE_PASSWORD"] = PASSWORD
    server = launch(*args, **env)
    assert get(server, certs["ca"]) == "one https on"
    workers = descendants(server.proc.pid)
    assert workers, "no worker found"
    for pid in workers:
        for name in ("cmdline", "environ"):
            with open(f"/proc/{pid}/{name}", "rb") as file:
                assert PASSWORD.encode() not in file.read(), f"worker {pid} {name}"
    app.write_text(SCHEME_APP.replace('"one"', '"two"'))
    wait_for(lambda: get(server, certs["ca"]) == "two https on", DEADLINE, "the reloaded app")
    assert server.stop() == exits.OK
    assert "reloaded in" in server.plain


def test_reload_with_self_signed_makes_the_certificate_once(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    app = write(tmp_path / "schemes.py", SCHEME_APP)
    cache = tmp_path / "cache"
    server = launch(
        "serve", "schemes:app", "--port", "0", "--reload", "--tls-self-signed",
        XDG_CACHE_HOME=str(cache),
    )  # fmt: skip
    crt = cache / "simplewsgi" / SELF_SIGNED_CRT
    assert get(server, crt) == "one https on"
    made = (cache / "simplewsgi" / SELF_SIGNED).stat().st_mtime_ns
    app.write_text(SCHEME_APP.replace('"one"', '"two"'))
    wait_for(lambda: get(server, crt, "127.0.0.1") == "two https on", DEADLINE, "the reload")
    assert (cache / "simplewsgi" / SELF_SIGNED).stat().st_mtime_ns == made
    assert server.plain.count("made a self-signed certificate") == 1
    assert server.stop() == exits.OK


def test_plain_http_to_the_tls_port_and_tls_to_the_plain_port(
    launch: Callable[..., Server], certs: dict[str, Path]
) -> None:
    secure = launch("demo", "--port", "0", "--certfile", str(certs["both"]))
    port = address(secure)[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    conn.request("GET", "/where?x=1")
    reply = conn.getresponse()
    assert reply.status == 400
    assert f"use https://127.0.0.1:{port}/where?x=1" in reply.read().decode()
    conn.close()
    assert "wsgi.url_scheme = 'https'" in get(secure, certs["ca"])  # still serving TLS
    secure.wait_for(r"400 - this port speaks HTTPS \(TLS\): use https://")

    plain = launch("demo", "--port", "0")
    host, port = plain.address
    raw = socket.create_connection((host, port), timeout=DEADLINE)
    context = ssl.create_default_context(cafile=str(certs["ca"]))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        context.wrap_socket(raw, server_hostname="localhost")
    raw.close()
    line = plain.wait_for(r".*a TLS handshake on a plain HTTP port.*")
    assert line.group(0).endswith(
        f"use http://127.0.0.1:{port}/, or serve HTTPS with --certfile or --tls-self-signed"
    )
    status, _ = plain.get("/")  # still serving plain HTTP
    assert status == 200
    assert plain.stop() == exits.OK
    assert plain.plain.count("TLS handshake") == 1
    assert "Traceback" not in plain.plain + secure.plain


def test_the_man_page_and_help_list_the_tls_options() -> None:
    result = run_cli("serve", "--help", cwd=Path.cwd())
    text = textwrap.dedent(result.stdout)
    for flag in ("--certfile", "--keyfile", "--keyfile-password", "--tls-self-signed"):
        assert flag in text
    assert "SIMPLEWSGI_KEYFILE_PASSWORD" in text


WHERE_APP = """\
import json


def app(environ, start_response):
    keys = ("wsgi.url_scheme", "HTTPS", "SERVER_NAME", "SERVER_PORT")
    body = json.dumps({key: environ.get(key) for key in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""


def _https_get(
    context: ssl.SSLContext, path: str, host: str = "localhost", port: int = 443, unix: str = ""
) -> tuple[int, bytes]:
    """One GET over TLS, on TCP or (``unix``) on a unix socket."""
    conn = http.client.HTTPSConnection(host, port, timeout=DEADLINE, context=context)
    if unix:
        raw = socket.socket(socket.AF_UNIX)
        raw.settimeout(DEADLINE)
        raw.connect(unix)
        conn.sock = context.wrap_socket(raw, server_hostname="localhost")
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_https_on_every_listener(
    launch: Callable[..., Server],
    tmp_path: Path,
    certs: dict[str, Path],
    reload: tuple[str, ...],
) -> None:
    """TLS on each of several addresses (localhost is two) and on a unix socket, where the
    port the app is told is https's; a static file is sent through the TLS session."""
    write(tmp_path / "where.py", WHERE_APP)
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    tls = ("--certfile", str(certs["cert"]), "--keyfile", str(certs["key"]))
    static = ("--static", "/files=public")
    context = ssl.create_default_context(cafile=str(certs["ca"]))
    server = launch("serve", "where:app", *reload, "--host", "localhost", "-p", "0", *tls, *static)
    port = address(server)[1]
    hosts = [m.group(1).strip("[]") for m in HTTPS_RE.finditer(server.wait_for("Press").string)]
    assert hosts[0] == "127.0.0.1" and set(hosts) <= {"127.0.0.1", "::1"}
    for host in hosts:
        status, body = _https_get(context, "/", host, port)
        seen = json.loads(body)
        assert (status, seen["wsgi.url_scheme"], seen["HTTPS"]) == (200, "https", "on")
        assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == (host, str(port))
        assert _https_get(context, "/files/big.bin", host, port) == (200, bytes(range(256)) * 4096)
    assert server.stop() == exits.OK

    path = str(tmp_path / "s.sock")
    server = launch("serve", "where:app", *reload, "--uds", path, *tls, *static)
    server.wait_for("Socket:")
    assert f"curl --unix-socket {path} https://localhost/" in server.plain
    status, body = _https_get(context, "/", unix=path)
    seen = json.loads(body)
    assert (seen["wsgi.url_scheme"], seen["SERVER_NAME"], seen["SERVER_PORT"]) == (
        "https",
        "localhost",
        "443",
    )
    assert _https_get(context, "/files/big.bin", unix=path) == (200, bytes(range(256)) * 4096)
    assert server.stop() == exits.OK


def test_a_certificate_that_goes_bad_under_reload_is_one_line(
    launch: Callable[..., Server], tmp_path: Path, certs: dict[str, Path]
) -> None:
    """A worker that cannot load the certificate says why in one line (no traceback of ours);
    the previous worker serves on, and the fixed file is taken at the next change."""
    write(tmp_path / "schemes.py", SCHEME_APP)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(certs["cert"].read_bytes())
    key.write_bytes(certs["key"].read_bytes())
    args = ("serve", "schemes:app", "--reload", "--reload-include", "*.pem", "-p", "0")
    server = launch(*args, "--certfile", str(cert), "--keyfile", str(key))
    assert get(server, certs["ca"]).startswith("one https")
    cert.write_text("garbage\n")
    server.wait_for(r"still serving the previous version")
    assert "Traceback" not in server.stderr
    assert "holds no PEM certificate" in server.plain
    assert get(server, certs["ca"]).startswith("one https")  # the previous worker
    cert.write_bytes(certs["cert"].read_bytes())
    write(tmp_path / "schemes.py", SCHEME_APP.replace('"one"', '"two"'))
    wait_for(lambda: get(server, certs["ca"]).startswith("two https"), what="the fixed file")
    assert server.stop() == exits.OK
