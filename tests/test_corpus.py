"""A corpus of raw requests with the verdict for each, replayed in several chunk sizes.

In the manner of h11's and gunicorn's request corpora: each valid request states what the app
must see (method, path, query, headers, body); each invalid one the status it gets (and the
connection is closed, the app never called). Every entry is fed in one piece and in pieces of
1, 2, 7 and 64 bytes, so no verdict depends on how the bytes arrived.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.helpers import echo_environ, run_in_memory

CHUNKS = [None, 1, 2, 7, 64]


# name -> (raw request, what the app must see; headers listed are a subset)
VALID: dict[str, tuple[bytes, dict[str, Any]]] = {
    "simple get": (
        b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
        {
            "method": "GET",
            "path": "/",
            "query": "",
            "body": "",
            "headers": {"HTTP_HOST": "example"},
        },
    ),
    "query and percent-encoding": (
        b"GET /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: h\r\n\r\n",
        {"path": "/caf\xc3\xa9/a/b", "query": "x=1&y=%20"},
    ),
    "bare LF line endings": (
        b"GET /lf HTTP/1.1\nHost: h\nX-A: 1\n\n",
        {"path": "/lf", "headers": {"HTTP_X_A": "1"}},
    ),
    "empty line before the request line": (
        b"\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n",
        {"path": "/after"},
    ),
    "whitespace around a value, tab inside": (
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Tab: \t a\tb \t\r\n\r\n",
        {"headers": {"HTTP_X_TAB": "a\tb"}},
    ),
    "empty value": (
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n",
        {"headers": {"HTTP_X_EMPTY": ""}},
    ),
    "obs-text in a value": (
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Latin: caf\xe9\r\n\r\n",
        {"headers": {"HTTP_X_LATIN": "caf\xe9"}},
    ),
    "repeated field joined": (
        b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n",
        {"headers": {"HTTP_ACCEPT": "a,b"}},
    ),
    "cookies joined with a semicolon": (
        b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
        {"headers": {"HTTP_COOKIE": "a=1; b=2"}},
    ),
    "underscore field dropped": (
        b"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded: spoof\r\n\r\n",
        {"headers": {"HTTP_HOST": "h"}},
    ),
    "content-length body": (
        b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
        b"Content-Type: text/plain\r\n\r\nhello world",
        {"method": "POST", "body": "hello world", "headers": {"CONTENT_LENGTH": "11"}},
    ),
    "equal repeated content-length": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
        {"body": "abc", "headers": {"CONTENT_LENGTH": "3"}},
    ),
    "chunked body with extensions and trailers": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=v\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n",
        {"body": "hello world"},
    ),
    "upper-case chunk size": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
        b"A\r\n0123456789\r\n0\r\n\r\n",
        {"body": "0123456789"},
    ),
    "absolute-form target": (
        b"GET http://other:8080/p?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n",
        {"path": "/p", "query": "q=1", "headers": {"HTTP_HOST": "other:8080"}},
    ),
    "http/1.0 without host": (b"GET /old HTTP/1.0\r\n\r\n", {"path": "/old"}),
    "options asterisk": (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", {"method": "OPTIONS"}),
    "higher minor version": (b"GET / HTTP/1.7\r\nHost: h\r\n\r\n", {"method": "GET"}),
    "custom method": (b"PURGE /cache HTTP/1.1\r\nHost: h\r\n\r\n", {"method": "PURGE"}),
}

# name -> (raw request, status)
INVALID: dict[str, tuple[bytes, int]] = {
    "garbage": (b"GARBAGE\r\n\r\n", 400),
    "http/0.9": (b"GET /\r\n\r\n", 400),
    "double space": (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "method not a token": (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "control character in target": (b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "relative target": (b"GET rel HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "http/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "unknown major version": (b"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
    "no host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "two hosts in http/1.0": (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    "no colon": (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
    "NUL in value": (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    "escape in value": (b"GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[31m\r\n\r\n", 400),
    "bare CR in value": (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
    "negative length": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    "plus length": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400),
    "hex length": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    "huge length": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12345678901234567890123\r\n\r\n",
        400,
    ),
    "two lengths": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    "length and chunked": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "chunked not last": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
    "gzip, chunked": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    "chunked in http/1.0": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "empty transfer-encoding": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", 400),
    "bad chunk size": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    "chunk without CRLF": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
        400,
    ),
    "bad trailer": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
        400,
    ),
    "absolute-form with userinfo": (b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "asterisk for GET": (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "request line too long": (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
    "header line too long": (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
    "too many headers": (
        b"GET / HTTP/1.1\r\nHost: h\r\n"
        + b"".join(b"X%d: v\r\n" % i for i in range(101))
        + b"\r\n",
        431,
    ),
    "tls client hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400),
}


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_request(name: str, chunk: int | None) -> None:
    raw, expected = VALID[name]
    out, err = run_in_memory(echo_environ, raw, chunk)
    assert out.startswith(b"HTTP/1.1 200 ") or out.startswith(b"HTTP/1.0 200 "), (out, err)
    seen = json.loads(out.partition(b"\r\n\r\n")[2])
    for key, value in expected.items():
        if key == "headers":
            for field, field_value in value.items():
                assert seen["headers"].get(field) == field_value, (field, seen["headers"])
            if name == "underscore field dropped":
                assert set(seen["headers"]) == {"HTTP_HOST"}
        else:
            assert seen[key] == value, (key, seen)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_request(name: str, chunk: int | None) -> None:
    raw, status = INVALID[name]
    called: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(environ["PATH_INFO"])
        environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b""]

    # The sentinel must never be reached: after a refusal the connection is closed.
    out, err = run_in_memory(app, raw + b"GET /sentinel HTTP/1.1\r\nHost: h\r\n\r\n", chunk)
    assert re.match(rb"HTTP/1\.[01] %d " % status, out), (out[:80], err)
    assert b"/sentinel" not in out and "/sentinel" not in called
    assert len(re.findall(rb"(?m)^HTTP/1\.[01] \d{3} ", out)) == 1, out  # one answer
    assert "Traceback" not in err
