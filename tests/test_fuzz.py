"""Property-based fuzzing of the request parser, with h11 as the oracle.

- Generated valid requests, fed in random chunk sizes, reach the app as h11 parses them: the
  same method, target, header fields and body; and the request behind them on the connection
  is read whole, not one byte of the first leaking into it.
- Mutated requests never crash the server, never get two answers, and get only the statuses
  a refusal may have.

CI runs a fixed set of examples (derandomized, so a failure reproduces); set
HYPOTHESIS_PROFILE=deep for a longer random run.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import unquote

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import echo_environ, run_in_memory

settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TCHAR = "!#$%&'*+-.^`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PATH_CHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/"
# Fields whose meaning the server acts on are left out: framing and Host are added by hand.
SPECIAL = {"host", "content-length", "transfer-encoding", "connection", "expect", "cookie"}
REFUSALS = {400, 408, 414, 431, 501, 505}

methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"])
path_segment = st.text(PATH_CHAR, max_size=12) | st.builds(
    lambda b: f"%{b:02X}", st.integers(0x20, 0xFF)
)
paths = st.lists(path_segment, max_size=5).map(lambda parts: "/" + "".join(parts))
queries = st.none() | st.text(PATH_CHAR + "?", max_size=20)
names = st.text(TCHAR.replace("_", ""), min_size=1, max_size=12).filter(
    lambda name: name.lower() not in SPECIAL
)
value_chars = st.sampled_from([bytes([c]) for c in range(0x21, 0x7F)] + [b"\x80", b"\xe9", b"\xff"])
inner_chars = value_chars | st.sampled_from([b" ", b"\t"])
values = st.builds(
    lambda first, middle, last: first + b"".join(middle) + last if middle or last else first,
    value_chars,
    st.lists(inner_chars, max_size=10),
    st.just(b"") | value_chars,
) | st.just(b"")
fields = st.lists(st.tuples(names, values), max_size=8)
bodies = st.binary(max_size=300)
chunks = st.none() | st.integers(1, 64)


@st.composite
def requests(draw: Any) -> tuple[bytes, dict[str, Any]]:
    """A valid HTTP/1.1 request and its parts."""
    method, path, query = draw(methods), draw(paths), draw(queries)
    target = path + ("" if query is None else "?" + query)
    head_fields = [(b"Host", b"example.test"), *[(n.encode(), v) for n, v in draw(fields)]]
    body = draw(bodies)
    if method in ("GET", "OPTIONS") and not body and draw(st.booleans()):
        framing: list[tuple[bytes, bytes]] = []
        encoded = b""
    elif draw(st.booleans()):
        framing = [(b"Content-Length", str(len(body)).encode())]
        encoded = body
    else:
        framing = [(b"Transfer-Encoding", b"chunked")]
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)]) if b > a]
        encoded = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = f"{method} {target} HTTP/1.1\r\n".encode()
    head += b"".join(name + b": " + value + b"\r\n" for name, value in head_fields + framing)
    return head + b"\r\n" + encoded, {"method": method, "target": target, "body": body}


def h11_view(raw: bytes) -> dict[str, Any]:
    """What h11, as a server, makes of ``raw``: the same shape as ``echo_environ``'s."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    request = conn.next_event()
    assert isinstance(request, h11.Request), request
    body = b""
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data), event
        body += event.data
    target = request.target.decode("latin-1")
    path, _, query = target.partition("?")
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.decode("ascii").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):  # CGI: not HTTP_ variables
            key = "HTTP_" + key
        text = value.decode("latin-1")
        headers[key] = headers[key] + "," + text if key in headers else text
    return {
        "method": request.method.decode("ascii"),
        "path": unquote(path, "latin-1"),
        "query": query,
        "headers": headers,
        "body": body.decode("latin-1"),
    }


def _responses(out: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each response in ``out`` (all of ours carry a Content-Length)."""
    found = []
    while out:
        match = re.match(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*\r\n(.*?)\r\n\r\n", out, re.DOTALL)
        assert match, out[:200]
        length = int(re.search(rb"(?mi)^Content-Length: (\d+)\r$", match.group(2) + b"\r").group(1))
        start = match.end()
        found.append((int(match.group(1)), out[start : start + length]))
        out = out[start + length :]
    return found


NEXT = b"GET /next?after=1 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n"


@given(requests(), chunks)
def test_valid_requests_reach_the_app_as_h11_parses_them(
    request: tuple[bytes, dict[str, Any]], chunk: int | None
) -> None:
    raw, _parts = request
    out, err = run_in_memory(echo_environ, raw + NEXT, chunk)
    answers = _responses(out)
    assert [status for status, _ in answers] == [200, 200], (out[:300], err)
    ours = json.loads(answers[0][1])
    assert ours == h11_view(raw)
    after = json.loads(answers[1][1])  # nothing of the first request leaked into the second
    assert (after["method"], after["path"], after["query"], after["body"]) == (
        "GET",
        "/next",
        "after=1",
        "",
    )
    assert "Traceback" not in err


@st.composite
def mutated(draw: Any) -> bytes:
    raw = bytearray(draw(requests())[0])
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = draw(st.sampled_from([0, 9, 10, 13, 32, 48, 58, 59, 127, 200, 255, 65]))
        if kind == "insert" or where == len(raw):
            raw[where:where] = bytes([byte])
        elif kind == "flip":
            raw[where] = byte
        else:
            del raw[where]
    return bytes(raw)


@given(mutated(), chunks)
def test_mutated_requests_never_crash_nor_get_two_answers(raw: bytes, chunk: int | None) -> None:
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        return echo_environ(environ, start_response)

    out, err = run_in_memory(app, raw + NEXT, chunk)
    statuses = [status for status, _ in _responses(out)]
    assert "Traceback" not in err, err
    assert all(s == 200 or s in REFUSALS for s in statuses), statuses
    # At most one answer per request the app ran (a 400 if its body's framing broke) plus at
    # most one refusal of a head, and a refusal ends the connection.
    refusals = [s for s in statuses if s != 200]
    assert len(refusals) <= 1 and (not refusals or statuses[-1] in REFUSALS), statuses
    assert statuses.count(200) <= len(calls) and len(statuses) <= len(calls) + 1, (statuses, calls)
