"""The static-files layer (``--static``): raw requests through the real handler in memory (so
PATH_INFO and RAW_URI are what the core makes of the bytes sent), and a loopback server for the
``sendfile`` path. Each way out of DIR is a case of its own."""

from __future__ import annotations

import io
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from simplewsgi.middleware import STATIC_FILE, mediatypes
from simplewsgi.middleware.fileresponse import FileSlice
from simplewsgi.middleware.static import (
    Mount,
    StaticFiles,
    StaticSpecError,
    load_mount,
    parse_mount,
    safe_segments,
)
from tests.helpers import Reply, WireReader, exchange, run_in_memory, serving

SECRET = b"TOP SECRET"
JS = b"export const answer = 42;\n"
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The app behind the layer: says what it was asked, so a fall-through is visible."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app:" + environ["PATH_INFO"].encode("latin-1")]


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def fetch(layer: Any, target: str, method: str = "GET", **headers: str) -> Reply:
    """One request through the real handler; the reply as a strict client reads it."""
    fields = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    request = f"{method} {target} HTTP/1.1\r\nHost: test\r\n{fields}Connection: close\r\n\r\n"
    out, _ = run_in_memory(layer, request.encode("latin-1"))
    return WireReader(_Bytes(out)).read(method)  # type: ignore[arg-type]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/secret.txt, tmp/public/ (the DIR) with files, links in and out, tmp/publicity/."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    public = tmp_path / "public"
    (public / "sub").mkdir(parents=True)
    (public / "app.js").write_bytes(JS)
    (public / "index.html").write_bytes(b"<h1>home</h1>")
    (public / "sub" / "index.html").write_bytes(b"<h1>sub</h1>")
    (public / "nosub").mkdir()
    (public / "nosub" / "a.txt").write_bytes(b"a")
    (public / ".env").write_bytes(SECRET)
    (public / ".well-known").mkdir()
    (public / ".well-known" / "security.txt").write_bytes(b"Contact: x")
    (public / "caf\u00e9.txt").write_bytes(b"accent")
    (tmp_path / "publicity").mkdir()
    (tmp_path / "publicity" / "x.txt").write_bytes(SECRET)
    if sys.platform != "win32":
        (public / "inside-link.js").symlink_to("app.js")
        (public / "out-link.txt").symlink_to(tmp_path / "secret.txt")
        (public / "out-dir").symlink_to(tmp_path)
        (public / "sibling").symlink_to(tmp_path / "publicity")
    return public


@pytest.fixture
def layer(tree: Path) -> StaticFiles:
    return StaticFiles(app, [Mount("/static", str(tree))])


# --- the ways out of DIR, each on its own ----------------------------------------------------

ESCAPES = {
    "dot-dot": "/static/../secret.txt",
    "dot-dot deeper": "/static/sub/../../secret.txt",
    "encoded dot-dot": "/static/%2e%2e/secret.txt",
    "encoded dot-dot, upper case": "/static/%2E%2E/secret.txt",
    "encoded slash": "/static/sub%2Findex.html",
    "encoded slash, lower case": "/static/sub%2findex.html",
    "encoded slash and dot-dot": "/static/..%2fsecret.txt",
    "encoded slash, upper case": "/static/..%2Fsecret.txt",
    "encoded slash, all of it": "/static%2f..%2fsecret.txt",
    "encoded backslash": "/static/sub%5Cindex.html",
    "encoded backslash and dot-dot": "/static/..%5csecret.txt",
    "backslash": "/static/sub\\index.html",
    "NUL": "/static/app.js%00.html",
    "NUL before a dot-dot": "/static/%00/../secret.txt",
    "absolute path": "/static//etc/passwd",
    "encoded absolute path": "/static/%2fetc%2fpasswd",
    "drive letter": "/static/C:/Windows/win.ini",
    "drive letter, backslash": "/static/C:%5cWindows%5cwin.ini",
    "hidden file": "/static/.env",
    "dot segment": "/static/./app.js",
}


@pytest.mark.parametrize("target", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_way_out_of_dir_is_refused_with_404(layer: StaticFiles, target: str) -> None:
    reply = fetch(layer, target)
    assert (reply.status, reply.body) == (404, b"Not Found\n"), reply
    assert SECRET not in reply.body


LINKS_OUT = {
    "symlink to a file outside": "/static/out-link.txt",
    "symlink to a directory outside": "/static/out-dir/secret.txt",
    "symlink to a sibling sharing DIR's name as a prefix": "/static/sibling/x.txt",
}


@POSIX
@pytest.mark.parametrize("target", LINKS_OUT.values(), ids=LINKS_OUT.keys())
def test_a_symlink_resolving_outside_dir_is_refused_with_404(
    layer: StaticFiles, target: str
) -> None:
    reply = fetch(layer, target)
    assert (reply.status, reply.body) == (404, b"Not Found\n"), reply


@POSIX
def test_a_symlink_inside_dir_to_a_file_inside_is_served(layer: StaticFiles) -> None:
    reply = fetch(layer, "/static/inside-link.js")
    assert (reply.status, reply.body) == (200, JS)


@POSIX
def test_dir_itself_being_a_symlink_is_fine(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "linked").symlink_to(tree)
    reply = fetch(StaticFiles(app, [Mount("/s", str(tmp_path / "linked"))]), "/s/app.js")
    assert (reply.status, reply.body) == (200, JS)


def test_dir_itself_without_a_slash_redirects_to_the_slash(layer: StaticFiles) -> None:
    reply = fetch(layer, "/static?x=1")
    assert (reply.status, reply.header("Location")) == (302, "static/?x=1")
    assert fetch(layer, "/static/").body == b"<h1>home</h1>"


def test_a_prefix_matches_whole_segments_only(layer: StaticFiles) -> None:
    assert fetch(layer, "/staticx/app.js").body == b"app:/staticx/app.js"
    assert fetch(layer, "/static.js").body == b"app:/static.js"


def test_well_known_is_the_one_hidden_directory_served(layer: StaticFiles) -> None:
    assert fetch(layer, "/static/.well-known/security.txt").body == b"Contact: x"


def test_under_the_root_prefix_a_refused_path_goes_to_the_app_never_to_disk(tree: Path) -> None:
    layer = StaticFiles(app, [Mount("", str(tree))])
    reply = fetch(layer, "/..%2fsecret.txt")
    assert reply.body == b"app:/../secret.txt"  # the app's answer, an API may route %2F
    assert fetch(layer, "/api/a%2Fb").body == b"app:/api/a/b"
    assert fetch(layer, "/app.js").body == JS
    assert fetch(layer, "/").body == b"<h1>home</h1>"
    # Not a path (the core lets "*" through for OPTIONS only, which goes to the app anyway).
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "*", "SCRIPT_NAME": ""}
    assert layer(environ, lambda status, headers: None) == [b"app:*"]


# --- what is served, and what goes to the app --------------------------------------------------


def test_a_file_with_its_headers(layer: StaticFiles, tree: Path) -> None:
    reply = fetch(layer, "/static/app.js")
    assert (reply.status, reply.body) == (200, JS)
    info = os.stat(tree / "app.js")
    assert reply.header("Content-Type") == "text/javascript; charset=utf-8"
    assert reply.header("Content-Length") == str(len(JS))
    assert reply.header("Accept-Ranges") == "bytes"
    assert reply.header("Cache-Control") == "no-cache"
    modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(info.st_mtime))
    assert reply.header("Last-Modified") == modified
    assert reply.header("ETag") == f'"{info.st_ino:x}-{info.st_mtime_ns:x}-{info.st_size:x}"'


def test_misses_and_other_methods_go_to_the_app(layer: StaticFiles) -> None:
    assert fetch(layer, "/static/missing.js").body == b"app:/static/missing.js"
    assert fetch(layer, "/static/app.js/").body == b"app:/static/app.js/"  # not a directory
    assert fetch(layer, "/static/nosub/").body == b"app:/static/nosub/"  # no listings
    assert fetch(layer, "/static/nosub").body == b"app:/static/nosub"
    assert fetch(layer, "/elsewhere").body == b"app:/elsewhere"
    post = "POST /static/app.js HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
    out, _ = run_in_memory(layer, post.encode())
    assert out.endswith(b"app:/static/app.js")


def test_index_html_for_a_directory(layer: StaticFiles) -> None:
    assert fetch(layer, "/static/sub/").body == b"<h1>sub</h1>"
    reply = fetch(layer, "/static/sub")
    assert (reply.status, reply.header("Location")) == (302, "sub/")


def test_a_non_ascii_name_is_the_utf8_bytes_of_the_url(layer: StaticFiles) -> None:
    assert fetch(layer, "/static/caf%C3%A9.txt").body == b"accent"


def test_head_has_the_get_head_and_no_body(layer: StaticFiles) -> None:
    reply = fetch(layer, "/static/app.js", method="HEAD")
    assert reply.status == 200 and reply.header("Content-Length") == str(len(JS))
    assert reply.header("Content-Type") == "text/javascript; charset=utf-8"


def test_an_unreadable_file_is_403(layer: StaticFiles, tree: Path) -> None:
    if sys.platform == "win32" or os.geteuid() == 0:
        pytest.skip("root (or Windows) reads any file")
    (tree / "locked.txt").write_bytes(b"x")
    (tree / "locked.txt").chmod(0)
    assert fetch(layer, "/static/locked.txt").status == 403


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_in_dir_is_not_opened_for_reading(layer: StaticFiles, tree: Path) -> None:
    os.mkfifo(tree / "pipe.txt")  # opening it to read would block this thread forever
    assert fetch(layer, "/static/pipe.txt").body == b"app:/static/pipe.txt"


def test_the_longest_prefix_wins_and_equal_prefixes_go_in_order(tmp_path: Path) -> None:
    for name, files in {"a": {"x.txt": b"a-x", "z.txt": b"a-z"}, "b": {"x.txt": b"b-x"}}.items():
        (tmp_path / name).mkdir()
        for file, data in files.items():
            (tmp_path / name / file).write_bytes(data)
    mounts = [Mount("", str(tmp_path / "b")), Mount("", str(tmp_path / "a"))]
    layer = StaticFiles(app, [*mounts, Mount("/deep", str(tmp_path / "b"))])
    assert fetch(layer, "/x.txt").body == b"b-x"  # the first of the two "/" mounts
    assert fetch(layer, "/z.txt").body == b"a-z"  # not in the first: the next has it
    assert fetch(layer, "/deep/x.txt").body == b"b-x"
    assert fetch(layer, "/deep/z.txt").body == b"app:/deep/z.txt"  # /deep is b's: not in a


def test_the_access_log_mark_is_set_for_files_only(layer: StaticFiles, tree: Path) -> None:
    seen: list[dict[str, Any]] = []

    def start_response(status: str, headers: list[Any]) -> None:
        pass

    def environ(path: str) -> dict[str, Any]:
        env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": ""}
        seen.append(env)
        return env

    for path in ("/static/app.js", "/static/missing", "/static/.env"):
        result = layer(environ(path), start_response)
        getattr(result, "close", lambda: None)()
    assert seen[0][STATIC_FILE] == os.path.realpath(tree / "app.js")
    assert STATIC_FILE not in seen[1] and STATIC_FILE not in seen[2]


# --- validators, 304 and ranges --------------------------------------------------------------


def test_304_for_a_matching_etag_and_for_if_modified_since(layer: StaticFiles) -> None:
    etag = fetch(layer, "/static/app.js").header("ETag")
    assert etag is not None
    reply = fetch(layer, "/static/app.js", If_None_Match=etag)
    assert (reply.status, reply.header("ETag"), reply.body) == (304, etag, b"")
    assert fetch(layer, "/static/app.js", If_None_Match=f'"x", W/{etag}').status == 304
    assert fetch(layer, "/static/app.js", If_None_Match="*").status == 304
    assert fetch(layer, "/static/app.js", If_None_Match='"other"').status == 200
    modified = fetch(layer, "/static/app.js").header("Last-Modified")
    assert fetch(layer, "/static/app.js", If_Modified_Since=str(modified)).status == 304
    early = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert fetch(layer, "/static/app.js", If_Modified_Since=early).status == 200
    # If-None-Match wins over If-Modified-Since.
    reply = fetch(layer, "/static/app.js", If_None_Match='"x"', If_Modified_Since=str(modified))
    assert reply.status == 200


def test_an_edit_of_the_same_size_in_the_same_second_is_a_new_etag(
    layer: StaticFiles, tree: Path
) -> None:
    first = fetch(layer, "/static/app.js")
    info = os.stat(tree / "app.js")
    (tree / "app.js").write_bytes(JS.upper())
    os.utime(tree / "app.js", ns=(info.st_atime_ns, info.st_mtime_ns + 1))  # same second
    second = fetch(layer, "/static/app.js", If_None_Match=str(first.header("ETag")))
    assert (second.status, second.body) == (200, JS.upper())
    assert second.header("ETag") != first.header("ETag")
    assert second.header("Last-Modified") == first.header("Last-Modified")


@pytest.mark.parametrize(
    ("spec", "status", "body", "content_range"),
    [
        ("bytes=0-5", 206, JS[:6], f"bytes 0-5/{len(JS)}"),
        ("bytes=7-", 206, JS[7:], f"bytes 7-{len(JS) - 1}/{len(JS)}"),
        ("bytes=-3", 206, JS[-3:], f"bytes {len(JS) - 3}-{len(JS) - 1}/{len(JS)}"),
        ("bytes=-999", 206, JS, f"bytes 0-{len(JS) - 1}/{len(JS)}"),
        ("bytes=5-999", 206, JS[5:], f"bytes 5-{len(JS) - 1}/{len(JS)}"),
        ("BYTES = 1-1", 206, JS[1:2], f"bytes 1-1/{len(JS)}"),
        (f"bytes={len(JS)}-", 416, b"", f"bytes */{len(JS)}"),
        ("bytes=999-1000", 416, b"", f"bytes */{len(JS)}"),
        ("bytes=-0", 416, b"", f"bytes */{len(JS)}"),
        ("bytes=5-2", 200, JS, None),  # invalid: ignored
        ("bytes=0-1,4-5", 200, JS, None),  # several ranges: the whole file
        ("items=0-1", 200, JS, None),
        ("bytes=+1-2", 200, JS, None),
        ("bytes=1_0-", 200, JS, None),
        ("bytes=abc", 200, JS, None),
    ],
)
def test_range(
    layer: StaticFiles, spec: str, status: int, body: bytes, content_range: str | None
) -> None:
    reply = fetch(layer, "/static/app.js", Range=spec)
    assert (reply.status, reply.body, reply.header("Content-Range")) == (
        status,
        body,
        content_range,
    )
    if status == 206:
        assert reply.header("Content-Length") == str(len(body))


def test_if_range(layer: StaticFiles) -> None:
    first = fetch(layer, "/static/app.js")
    etag, modified = str(first.header("ETag")), str(first.header("Last-Modified"))
    assert fetch(layer, "/static/app.js", Range="bytes=0-1", If_Range=etag).status == 206
    assert fetch(layer, "/static/app.js", Range="bytes=0-1", If_Range=modified).status == 206
    assert fetch(layer, "/static/app.js", Range="bytes=0-1", If_Range='"old"').status == 200
    assert fetch(layer, "/static/app.js", Range="bytes=0-1", If_Range="W/" + etag).status == 200


def test_an_empty_file(layer: StaticFiles, tree: Path) -> None:
    (tree / "empty.txt").write_bytes(b"")
    reply = fetch(layer, "/static/empty.txt")
    assert (reply.status, reply.body, reply.header("Content-Length")) == (200, b"", "0")
    assert fetch(layer, "/static/empty.txt", Range="bytes=0-").status == 416


def test_a_file_that_grows_while_sent_is_cut_at_its_announced_length(tmp_path: Path) -> None:
    path = tmp_path / "grow.bin"
    path.write_bytes(b"abcdef")
    with open(path, "rb", buffering=0) as raw:
        piece = FileSlice(raw, 4)  # type: ignore[arg-type]
        path.write_bytes(b"abcdefghij")
        raw.seek(1)
        assert (piece.read(), piece.read(), piece.tell()) == (b"bcd", b"", 4)


# --- sendfile, on a real socket --------------------------------------------------------------


def test_files_and_ranges_go_out_by_sendfile(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    (tree / "big.bin").write_bytes(data)
    calls: list[tuple[int, int | None]] = []
    real = socket.socket.sendfile

    def spy(self: socket.socket, file: Any, offset: int = 0, count: int | None = None) -> int:
        calls.append((offset, count))
        return real(self, file, offset, count)

    monkeypatch.setattr(socket.socket, "sendfile", spy)
    with serving(StaticFiles(app, [Mount("/static", str(tree))])) as server:
        head = b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\n"
        whole, part, last = exchange(
            server,
            head + b"\r\n" + head + b"Range: bytes=1000-2000999\r\n\r\n"
            + head + b"Range: bytes=-7\r\n\r\n",
            count=3,
        )  # fmt: skip
    assert (whole.status, whole.body == data) == (200, True)
    assert (part.status, part.body == data[1000:2001000]) == (206, True)
    assert (last.status, last.body) == (206, data[-7:])
    assert calls == [(0, len(data)), (1000, 2000000), (len(data) - 7, 7)]


# --- content types -----------------------------------------------------------------------------

PINNED = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".map": "application/json",
    ".woff2": "font/woff2",
}


def test_web_asset_types_are_pinned_not_asked_of_the_system(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mimetypes

    # What a Windows registry says for .js, and worse, for everything.
    monkeypatch.setattr(mimetypes, "guess_type", lambda *args, **kwargs: ("text/plain", None))
    for extension, expected in PINNED.items():
        assert mediatypes.content_type("/x/file" + extension.upper()) == expected
    assert mediatypes.content_type("/x/file.xyz") == "text/plain"  # not pinned: the system's


def test_unknown_and_compressed_types() -> None:
    assert mediatypes.content_type("/x/file.unknown-ext") == mediatypes.DEFAULT
    assert mediatypes.content_type("/x/noextension") == mediatypes.DEFAULT
    assert mediatypes.content_type("/x/a.tar.gz") == "application/gzip"
    assert mediatypes.content_type("/x/a.tar.bz2") == mediatypes.DEFAULT  # never an encoding


# --- the option's values -------------------------------------------------------------------------


def test_parse_mount(tmp_path: Path) -> None:
    (tmp_path / "pub").mkdir()
    assert parse_mount("/static/=pub", str(tmp_path)) == Mount("/static", str(tmp_path / "pub"))
    assert parse_mount("/=pub", str(tmp_path)) == Mount("", str(tmp_path / "pub"))
    assert str(parse_mount("/=pub", str(tmp_path))) == f"/={tmp_path / 'pub'}"
    assert parse_mount(f"/a={tmp_path}/pub", "/elsewhere").directory == str(tmp_path / "pub")
    (tmp_path / "x=y").mkdir()
    mount = parse_mount("/a=x=y", str(tmp_path))  # the first "=" ends the prefix
    assert mount == Mount("/a", str(tmp_path / "x=y"))
    assert load_mount(str(mount)) == mount


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("static=pub", "must start with '/'"),
        ("/static", "expected /PREFIX=DIR"),
        ("/static=", "expected /PREFIX=DIR"),
        ("/static=nowhere", "does not exist"),
        ("/static=file.txt", "is not a directory"),
        ("/a/../b=pub", "'..'"),
        ("/a%20b=pub", "decoded"),
        ("/a?b=pub", "'?'"),
    ],
)
def test_parse_mount_errors(tmp_path: Path, value: str, fragment: str) -> None:
    (tmp_path / "pub").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(StaticSpecError) as caught:
        parse_mount(value, str(tmp_path))
    assert fragment in str(caught.value) and repr(value) in str(caught.value)


def test_safe_segments() -> None:
    assert safe_segments("") == []
    assert safe_segments("/") == [""]
    assert safe_segments("/a/b.js") == ["a", "b.js"]
    assert safe_segments("/a/") == ["a", ""]
    for bad in ("*", "a", "//a", "/a//b", "/..", "/.", "/.x", "/a\\b", "/c:", "/a\x00", "/a\x1b"):
        assert safe_segments(bad) is None, bad


@POSIX
def test_a_directory_swapped_for_a_symlink_after_the_check_leads_nowhere(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race an attacker runs with renameat2(RENAME_EXCHANGE): a directory inside DIR is
    checked, then replaced by a symlink out of DIR before the file is opened. Here the swap
    happens at the worst moment every time: right after the path is resolved."""
    from simplewsgi.middleware import static

    race = tree / "race"
    race.mkdir()
    (race / "s.txt").write_bytes(b"inside")
    outside = tree.parent / "outside"
    outside.mkdir()
    (outside / "s.txt").write_bytes(SECRET)
    resolve = os.path.realpath

    def resolve_then_swap(path: str) -> str:
        real = resolve(path)
        if path.endswith("s.txt") and not race.is_symlink():  # the file's check, not DIR's
            race.rename(tree.parent / "race-moved")
            race.symlink_to(outside)
        return real

    monkeypatch.setattr(static.os.path, "realpath", resolve_then_swap)
    reply = fetch(StaticFiles(app, [Mount("/static", str(tree))]), "/static/race/s.txt")
    assert SECRET not in reply.body
    assert reply.status == 404 or reply.body.startswith(b"app:"), reply


def test_a_path_that_cannot_be_resolved_is_no_error(
    layer: StaticFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """realpath() itself can fail mid-race (EINVAL when a name changes kind under it)."""
    from simplewsgi.middleware import static

    def failing(path: str) -> str:
        raise OSError(22, "Invalid argument", path)

    monkeypatch.setattr(static.os.path, "realpath", failing)
    reply = fetch(layer, "/static/app.js")
    assert reply.status == 404 or reply.body == b"app:/static/app.js", reply  # not a 500


def test_head_of_a_416_says_its_length(layer: StaticFiles) -> None:
    """HEAD gets the headers GET gets: an empty 416 says Content-Length: 0 either way."""
    for method in ("GET", "HEAD"):
        reply = fetch(layer, "/static/app.js", method, Range="bytes=999-")
        assert (reply.status, reply.header("Content-Length")) == (416, "0"), method
