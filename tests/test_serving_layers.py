"""``--static``, ``--root-path``, ``--proxy-headers`` and ``--forwarded-allow-ips`` through the
real ``simplewsgi serve`` in a subprocess on loopback, with and without ``--reload``: the
traversal table, file responses, the access log, proxies trusted and not, usage errors."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from simplewsgi import exits
from simplewsgi.options import ServeOptions
from tests.commandline import DEADLINE, Server, check_error, cli_env, run_cli, write
from tests.helpers import Reply, WireReader, wait_for

APP = """\
import json

MARK = "v1"

def app(environ, start_response):
    keys = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME",
            "PATH_INFO")
    seen = {key: environ.get(key) for key in keys}
    seen["mark"] = MARK
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""
SECRET = b"TOP SECRET"
JS = b"export const answer = 42;\n"
ESC_DIM = "\x1b[2m"
ESC_BOLD = "\x1b[1m"


def project(root: Path) -> Path:
    """app.py, public/ (static files) and a secret beside them."""
    write(root / "app.py", APP)
    (root / "secret.txt").write_bytes(SECRET)
    public = root / "public"
    (public / "sub").mkdir(parents=True)
    (public / "app.js").write_bytes(JS)
    (public / "index.html").write_bytes(b"<h1>home</h1>")
    (public / "sub" / "index.html").write_bytes(b"<h1>sub</h1>")
    (public / ".env").write_bytes(SECRET)
    if sys.platform != "win32":
        (public / "out-link.txt").symlink_to(root / "secret.txt")
        (public / "out-dir").symlink_to(root)
        (public / "in-link.js").symlink_to("app.js")
    return public


def request(
    server: Server | tuple[str, int] | Path, target: str, method: str = "GET", **headers: str
) -> Reply:
    """One raw request (the target sent byte for byte, as no client library would); a Path
    is a unix socket's."""
    fields = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\n{fields}Connection: close\r\n\r\n"
    if isinstance(server, Path):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(DEADLINE)
        sock.connect(str(server))
    else:
        address = server if isinstance(server, tuple) else server.address
        sock = socket.create_connection(address, timeout=DEADLINE)
    with sock:
        sock.sendall(head.encode("latin-1"))
        reader = WireReader(sock)
        try:
            return reader.read(method)
        finally:
            reader.close()


def seen(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply
    result: dict[str, Any] = json.loads(reply.body)
    return result


# --- the traversal table: one server, each way out a test of its own --------------------------


@pytest.fixture(scope="module")
def traversal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("traversal")
    project(root)
    args = ("serve", "app:app", "--port", "0", "--static", "/static=public")
    server = Server(args, root, cli_env())
    try:
        server.address  # noqa: B018  (waits for the banner)
        yield server
    finally:
        server.kill()
        print(server.stderr)


TRAVERSALS = {
    "dot-dot": "/static/../secret.txt",
    "encoded dot-dot": "/static/%2e%2e/secret.txt",
    "encoded dot-dot, upper case": "/static/%2E%2E/secret.txt",
    "encoded slash": "/static/sub%2Findex.html",
    "encoded slash and dot-dot": "/static/..%2fsecret.txt",
    "encoded backslash": "/static/sub%5cindex.html",
    "backslash": "/static/..\\secret.txt",
    "NUL": "/static/app.js%00.html",
    "absolute path": "/static//etc/passwd",
    "encoded absolute path": "/static/%2Fetc/passwd",
    "drive letter": "/static/C:/Windows/win.ini",
    "hidden file": "/static/.env",
}


@pytest.mark.parametrize("target", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_traversal_is_refused(traversal_server: Server, target: str) -> None:
    reply = request(traversal_server, target)
    assert (reply.status, reply.body) == (404, b"Not Found\n"), reply
    traversal_server.wait_for(re.escape(f"GET {target} HTTP/1.1 404"))


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
@pytest.mark.parametrize("target", ["/static/out-link.txt", "/static/out-dir/secret.txt"])
def test_a_symlink_out_of_dir_is_refused(traversal_server: Server, target: str) -> None:
    assert request(traversal_server, target).status == 404
    assert request(traversal_server, "/static/in-link.js").body == JS  # inside: fine


def test_dir_itself_without_a_slash(traversal_server: Server) -> None:
    reply = request(traversal_server, "/static")
    assert (reply.status, reply.header("Location")) == (302, "static/")
    assert request(traversal_server, "/staticx")  # not under the prefix: the app's
    assert seen(request(traversal_server, "/staticx"))["PATH_INFO"] == "/staticx"


# --- files: types, validators, ranges, HEAD, index.html, freshness, the app behind -------------


def test_static_files_in_front_of_the_app(tmp_path: Path, launch: Callable[..., Server]) -> None:
    public = project(tmp_path)
    server = launch("serve", "app:app", "--port", "0", "--static", "/static=public")
    reply = request(server, "/static/app.js")
    assert (reply.status, reply.body) == (200, JS)
    assert reply.header("Content-Type") == "text/javascript; charset=utf-8"
    etag = str(reply.header("ETag"))
    assert request(server, "/static/app.js", If_None_Match=etag).status == 304
    modified = str(reply.header("Last-Modified"))
    assert request(server, "/static/app.js", If_Modified_Since=modified).status == 304
    part = request(server, "/static/app.js", Range="bytes=7-12")
    assert (part.status, part.body, part.header("Content-Range")) == (
        206,
        JS[7:13],
        f"bytes 7-12/{len(JS)}",
    )
    assert request(server, "/static/app.js", Range="bytes=500-").status == 416
    head = request(server, "/static/app.js", method="HEAD")
    assert (head.status, head.header("Content-Length"), head.body) == (200, str(len(JS)), b"")
    assert request(server, "/static/").body == b"<h1>home</h1>"
    assert request(server, "/static/sub/").body == b"<h1>sub</h1>"
    assert seen(request(server, "/static/missing.js"))["PATH_INFO"] == "/static/missing.js"
    assert seen(request(server, "/api"))["PATH_INFO"] == "/api"
    # An edit on disk, same size, within the same second: served fresh, with a new tag.
    info = os.stat(public / "app.js")
    (public / "app.js").write_bytes(JS.upper())
    os.utime(public / "app.js", ns=(info.st_atime_ns, info.st_mtime_ns + 1))
    fresh = request(server, "/static/app.js", If_None_Match=etag)
    assert (fresh.status, fresh.body) == (200, JS.upper())
    assert server.stop() == exits.OK


def test_web_asset_types_are_pinned_against_the_systems_registry(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    """A sitecustomize makes mimetypes say what a Windows registry says (text/plain)."""
    hook = tmp_path / "hook"
    write(
        hook / "sitecustomize.py",
        "import mimetypes\nmimetypes.init()\n"
        "for ext in ('.js', '.mjs', '.css', '.html', '.svg', '.json', '.wasm', '.xyz'):\n"
        "    mimetypes.add_type('text/plain', ext)\n",
    )
    expected = {
        "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "html": "text/html; charset=utf-8",
        "svg": "image/svg+xml",
        "json": "application/json",
        "wasm": "application/wasm",
        "xyz": "text/plain",  # not a web asset: the system's word
    }
    for extension in expected:
        write(tmp_path / "public" / f"file.{extension}", "x")
    pythonpath = os.pathsep.join([str(hook), cli_env()["PYTHONPATH"]])
    server = launch("serve", "--port", "0", "--static", "/=public", PYTHONPATH=pythonpath)
    for extension, content_type in expected.items():
        assert request(server, f"/file.{extension}").header("Content-Type") == content_type


def test_served_files_are_logged_dimmer(tmp_path: Path, launch: Callable[..., Server]) -> None:
    project(tmp_path)
    args = ("serve", "app:app", "--port", "0", "--static", "/static=public", "--color", "always")
    server = launch(*args)
    request(server, "/static/app.js")
    request(server, "/api")
    server.wait_for(r"GET /api HTTP/1\.1 200")
    server.wait_for(r"GET /static/app\.js HTTP/1\.1 200")
    lines = server.stderr.splitlines()
    file_line = next(line for line in lines if "/static/app.js" in line)
    app_line = next(line for line in lines if "/api" in line)
    assert file_line.startswith(ESC_DIM) and ESC_BOLD not in file_line, file_line
    assert ESC_BOLD + "GET /api" in app_line, app_line


def test_static_with_reload(tmp_path: Path, launch: Callable[..., Server]) -> None:
    public = project(tmp_path)
    server = launch("serve", "app:app", "--port", "0", "--reload", "--static", "/static=public")
    assert request(server, "/static/app.js").body == JS
    write(tmp_path / "app.py", APP.replace('MARK = "v1"', 'MARK = "v2"'))
    wait_for(lambda: seen(request(server, "/api"))["mark"] == "v2", what="the reload")
    assert request(server, "/static/app.js").body == JS  # the new worker serves the files too
    (public / "new.css").write_bytes(b"body{}")  # no reload needed for a file
    reply = request(server, "/static/new.css")
    assert (reply.body, reply.header("Content-Type")) == (b"body{}", "text/css; charset=utf-8")
    assert server.stop() == exits.OK


# --- root path ------------------------------------------------------------------------------------


def test_root_path(tmp_path: Path, launch: Callable[..., Server]) -> None:
    project(tmp_path)
    args = ("serve", "app:app", "--port", "0", "--root-path", "/app/", "--static", "/s=public")
    server = launch(*args)
    inside = seen(request(server, "/app/users"))
    assert (inside["SCRIPT_NAME"], inside["PATH_INFO"]) == ("/app", "/users")
    stripped = seen(request(server, "/users"))  # a proxy already took the prefix off
    assert (stripped["SCRIPT_NAME"], stripped["PATH_INFO"]) == ("/app", "/users")
    other = seen(request(server, "/application"))
    assert (other["SCRIPT_NAME"], other["PATH_INFO"]) == ("/app", "/application")
    assert request(server, "/app/s/app.js").body == JS
    assert request(server, "/app/s").header("Location") == "s/"


# --- proxy headers --------------------------------------------------------------------------------

FORWARDED_HEADERS = {
    "X_Forwarded_For": "6.6.6.6, 203.0.113.7",  # a client's own entry, then what our proxy saw
    "X_Forwarded_Proto": "https",
    "X_Forwarded_Host": "example.com",
    "X_Forwarded_Prefix": "/shop",
}


def test_proxy_headers_from_a_trusted_peer(tmp_path: Path, launch: Callable[..., Server]) -> None:
    project(tmp_path)
    server = launch("serve", "app:app", "--port", "0", "--proxy-headers")
    result = seen(request(server, "/x", **FORWARDED_HEADERS))
    assert result == {
        "REMOTE_ADDR": "203.0.113.7",  # never the spoofed 6.6.6.6
        "REMOTE_PORT": None,
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "example.com",
        "SCRIPT_NAME": "/shop",
        "PATH_INFO": "/x",
        "mark": "v1",
    }
    server.wait_for(r"203\.0\.113\.7 GET /x HTTP/1\.1 200")  # the log names the client
    rfc = seen(request(server, "/", Forwarded='for="[2001:db8::7]:4711";proto=https'))
    assert (rfc["REMOTE_ADDR"], rfc["REMOTE_PORT"], rfc["wsgi.url_scheme"]) == (
        "2001:db8::7",
        "4711",
        "https",
    )


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets")
@pytest.mark.parametrize("reload", [(), ("--reload",)])
def test_behind_a_proxy_on_a_unix_socket(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    """nginx's usual set-up: a unix socket, trusted by default; files and the app both served
    through it, and a narrower --forwarded-allow-ips leaves a unix peer untrusted."""
    project(tmp_path)
    path = tmp_path / "s.sock"
    args = ("serve", "app:app", *reload, "--uds", str(path), "--static", "/static=public")
    server = launch(*args, "--proxy-headers")
    server.wait_for(r"Socket:")
    result = seen(request(path, "/x", **FORWARDED_HEADERS))
    assert (result["REMOTE_ADDR"], result["wsgi.url_scheme"], result["SCRIPT_NAME"]) == (
        "203.0.113.7",
        "https",
        "/shop",
    )
    asset = request(path, "/static/app.js")
    assert (asset.status, asset.body) == (200, JS)
    assert server.stop() == exits.OK
    assert not path.exists()
    narrow = launch(*args, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
    narrow.wait_for(r"Socket:")
    result = seen(request(path, "/x", **FORWARDED_HEADERS))
    assert (result["REMOTE_ADDR"], result["wsgi.url_scheme"]) == ("", "http")


def test_proxy_headers_from_an_untrusted_peer_change_nothing(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(tmp_path)
    args = ("serve", "app:app", "--port", "0", "--proxy-headers")
    server = launch(*args, "--forwarded-allow-ips", "10.0.0.0/8")
    result = seen(request(server, "/x", **FORWARDED_HEADERS, Forwarded="for=6.6.6.6"))
    assert result["REMOTE_ADDR"] == "127.0.0.1" and result["REMOTE_PORT"] is not None
    assert (result["wsgi.url_scheme"], result["HTTP_HOST"], result["SCRIPT_NAME"]) == (
        "http",
        "x",
        "",
    )


def test_without_proxy_headers_nothing_is_believed(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(tmp_path)
    server = launch("serve", "app:app", "--port", "0")
    assert seen(request(server, "/", **FORWARDED_HEADERS))["REMOTE_ADDR"] == "127.0.0.1"


def test_proxy_headers_with_reload_and_from_the_environment(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    project(tmp_path)
    server = launch(
        "serve", "app:app", "--port", "0", "--reload",
        SIMPLEWSGI_PROXY_HEADERS="1", SIMPLEWSGI_FORWARDED_ALLOW_IPS="127.0.0.0/8",
    )  # fmt: skip
    chain = {"X_Forwarded_For": "198.51.100.4, 127.0.0.9", "X_Forwarded_Proto": "https"}
    assert seen(request(server, "/", **chain))["REMOTE_ADDR"] == "198.51.100.4"
    write(tmp_path / "app.py", APP.replace('MARK = "v1"', 'MARK = "v2"'))
    wait_for(lambda: seen(request(server, "/"))["mark"] == "v2", what="the reload")
    result = seen(request(server, "/", **chain))
    assert (result["REMOTE_ADDR"], result["wsgi.url_scheme"]) == ("198.51.100.4", "https")
    assert server.stop() == exits.OK


def test_allow_ips_without_proxy_headers_warns(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    server = launch("serve", "--port", "0", "--forwarded-allow-ips", "10.0.0.1")
    server.wait_for("Warning: --forwarded-allow-ips has no effect without --proxy-headers")


# --- values ---------------------------------------------------------------------------------------


def test_options_map_onto_serve_options(
    parsed: Callable[..., ServeOptions], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pub").mkdir()
    monkeypatch.chdir(tmp_path)
    options = parsed(
        "serve", "--static", "/static/=pub", "--static", f"/={tmp_path}", "--root-path", "/app/",
        "--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8, unix",
    )  # fmt: skip
    assert options == ServeOptions(
        static=(f"/static={tmp_path / 'pub'}", f"/={tmp_path}"),
        root_path="/app",
        proxy_headers=True,
        forwarded_allow_ips="10.0.0.0/8,unix",
    )
    from_env = parsed(
        "serve", SIMPLEWSGI_STATIC="/a=pub /b=pub", SIMPLEWSGI_ROOT_PATH="/r",
        SIMPLEWSGI_PROXY_HEADERS="true", SIMPLEWSGI_FORWARDED_ALLOW_IPS="*",
    )  # fmt: skip
    assert from_env == ServeOptions(
        static=(f"/a={tmp_path / 'pub'}", f"/b={tmp_path / 'pub'}"),
        root_path="/r",
        proxy_headers=True,
        forwarded_allow_ips="*",
    )
    assert ServeOptions.from_json(options.to_json()) == options


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--static", "static=public"], ["--static", "must start with '/'"]),
        (["--static", "/static"], ["--static", "expected /PREFIX=DIR"]),
        (["--static", "/static=nowhere"], ["--static", "does not exist"]),
        (["--static", "/static=app.py"], ["--static", "is not a directory"]),
        (["--static", "/a/../b=public"], ["--static", "'..'"]),
        (["--root-path", "app"], ["--root-path", "must start with '/'"]),
        (["--root-path", "/a%2Fb"], ["--root-path", "decoded"]),
        (["--forwarded-allow-ips", "localhost"], ["--forwarded-allow-ips", "'localhost'"]),
        (["--forwarded-allow-ips", "10.0.0.1/8"], ["--forwarded-allow-ips", "host bits"]),
    ],
)
def test_malformed_values_are_usage_errors(
    tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    project(tmp_path)
    result = run_cli("serve", "app:app", "--port", "0", *args, cwd=tmp_path)
    check_error(result, exits.USAGE, *fragments)
