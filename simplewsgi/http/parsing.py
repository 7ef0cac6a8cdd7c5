"""HTTP/1.1 message parsing for the server: request line, header fields, framing (RFC 9112).

Rules of this module:
- Standard library only, no I/O beyond ``readline`` on the buffered input stream handed in.
- Every limit is a named constant in :mod:`.limits`, with where its value comes from.
- Anything malformed raises an :class:`~simplewsgi.http.errors.HTTPError` subclass that knows its
  status code and can render itself; the caller answers with it and closes the connection.
- Strict where leniency enables request smuggling (RFC 9112 §6.3, §11.2), lenient only where the
  RFC allows it (bare LF line endings §2.2, an empty line before the request line §2.2).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional, Protocol

from simplewsgi.http.errors import (
    BadRequest,
    HeaderFieldsTooLarge,
    HTTPError,
    IncompleteRequest,
    NotImplementedCoding,
    URITooLong,
    VersionNotSupported,
)
from simplewsgi.http.limits import (
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    MAX_HEADER_LINE,
    MAX_LEADING_EMPTY_LINES,
    MAX_LOGGED_LINE,
    MAX_REQUEST_LINE,
)

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_TOKEN_STR = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# A request-target holds no whitespace or control characters (RFC 9112 §3.2).
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")
# Field values: no control character but HTAB (RFC 9110 §5.5 lets a recipient reject them, as h11
# does): they serve no purpose in a header and can forge log lines or drive a terminal.
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)\Z")
_ABSOLUTE = re.compile(r"https?://", re.IGNORECASE)


class ByteReader(Protocol):
    """What parsing needs of the input stream (a buffered socket file or any binary stream)."""

    def read(self, size: int = ..., /) -> bytes: ...

    def readline(self, size: int = ..., /) -> bytes: ...


class RequestLine(NamedTuple):
    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    raw: str  # the line without its line ending, for the access log
    terminated: bool = True  # False: the client sent this line, no line ending, then EOF


def read_request_line(rfile: ByteReader) -> Optional[RequestLine]:
    """Read one request line; None when the peer closed the connection cleanly before it."""
    for _ in range(MAX_LEADING_EMPTY_LINES + 1):
        line = rfile.readline(MAX_REQUEST_LINE + 1)
        if not line:
            return None
        if line not in (b"\r\n", b"\n"):
            break
    else:
        raise BadRequest("too many empty lines before the request line")
    try:
        if len(line) > MAX_REQUEST_LINE:
            raise URITooLong(f"request line longer than {MAX_REQUEST_LINE} bytes")
        return parse_request_line(line)
    except HTTPError as error:
        # For the log: what was received, never more than MAX_LOGGED_LINE of it.
        error.received = _without_line_ending(line[: MAX_LOGGED_LINE + 2]).decode("latin-1")
        raise


def _without_line_ending(line: bytes) -> bytes:
    """Strip exactly one CRLF or bare LF (RFC 9112 §2.2); a stray CR stays and is refused."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(b"\n") else line


def parse_request_line(line: bytes) -> RequestLine:
    """Split ``method SP target SP version`` strictly (RFC 9112 §3)."""
    stripped = _without_line_ending(line)
    raw = stripped.decode("latin-1")
    parts = stripped.split(b" ")
    if len(parts) != 3 or b"\r" in stripped:
        raise BadRequest(f"malformed request line {raw!r}")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise BadRequest(f"malformed method {method.decode('latin-1')!r}")
    if not target or _BAD_TARGET.search(target):
        raise BadRequest(f"malformed request target {target.decode('latin-1')!r}")
    if version == b"HTTP/1.1" or version == b"HTTP/1.0":
        version_str = version.decode("ascii")
    else:
        match = _VERSION.match(version)
        if match is None:
            raise BadRequest(f"malformed HTTP version {version.decode('latin-1')!r}")
        if match.group(1) != b"1":
            raise VersionNotSupported(f"HTTP/{match.group(1).decode()} is not supported")
        # RFC 9110 §6.2: a higher 1.x minor version is answered as the highest we speak.
        version_str = "HTTP/1.1"
    method_str, target_str = method.decode("ascii"), target.decode("latin-1")
    check_target_form(method_str, target_str)
    # An unterminated line is the last thing a client sent before half-closing (http.server,
    # and tests written for wsgiref, accept it); the caller decides whether to serve it.
    terminated = line.endswith(b"\n")
    return RequestLine(method_str, target_str, version_str, raw, terminated)


def check_target_form(method: str, target: str) -> None:
    """The four request-target forms of RFC 9112 §3.2, each only where it belongs."""
    if target[0] == "/":
        return  # origin-form
    if target == "*":
        if method != "OPTIONS":
            raise BadRequest("the asterisk-form target is only for OPTIONS (RFC 9112 §3.2.4)")
        return
    if _ABSOLUTE.match(target):  # absolute-form: its host becomes the request's Host
        authority = split_absolute_form(target)[0]
        if not authority or "@" in authority:  # RFC 9110 §4.2.1, §4.2.4
            raise BadRequest(f"absolute-form target without a host, or with userinfo: {target!r}")
        return
    if method == "CONNECT":
        return  # authority-form
    raise BadRequest(f"malformed request target {target!r}")


def split_absolute_form(target: str) -> tuple[str, str]:
    """``http://h:8080/p?q`` -> ``("h:8080", "/p?q")`` (RFC 9112 §3.2.2); the path is at
    least ``/``."""
    rest = target.partition("://")[2]
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    path = rest[end:]
    return rest[:end], path if path[:1] == "/" else "/" + path


# The fast path's head: what the line-by-line path would accept, checked in one pass. A field
# line, decoded: a token, a colon, the value with no leading whitespace nor CR; trailing
# whitespace (rare) is left to the line-by-line path, which trims it.
_FIELD_LINE = re.compile(r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r]*)\r$", re.MULTILINE)
# Control characters but HTAB, CR and LF (CR and LF are counted: only as CRLF pairs).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FAST_HEAD_MAX = min(MAX_REQUEST_LINE, MAX_HEADER_LINE, MAX_HEADER_BYTES)


def take_head(rfile: ByteReader) -> Optional[tuple[RequestLine, list[tuple[str, str]], int]]:
    """The request line and header fields of a whole head already in ``rfile``'s buffer (at
    most one raw read, when the buffer is empty), taken in one split instead of a readline
    and a parse per line, and how many bytes the buffer holds after it (a pipelined request's,
    or a body's); None, with nothing consumed, for anything but a plain head: not all
    buffered, bare LF or CR, a leading empty line, a control character, trailing whitespace,
    too many fields, or any error. The caller then reads it line by line
    (:func:`read_request_line`, :func:`read_headers`), which says what is wrong."""
    peek = getattr(rfile, "peek", None)
    if peek is None:
        return None
    data: bytes = peek(1)
    end = data.find(b"\r\n\r\n")
    if end < 0 or end + 4 > _FAST_HEAD_MAX or data[0] in (13, 10):
        return None
    head = data[: end + 2]  # the request line and each field line, each with its CRLF
    pairs = head.count(b"\r\n")
    if head.count(b"\r") != pairs or head.count(b"\n") != pairs or _CONTROL.search(head):
        return None
    first = head.find(b"\r\n")
    text = head.decode("latin-1")
    fields: list[tuple[str, str]] = _FIELD_LINE.findall(text, first + 2)
    if (
        len(fields) != pairs - 1
        or len(fields) > MAX_HEADER_COUNT
        or " \r" in text
        or "\t\r" in text
    ):
        return None
    raw = text[:first]
    parts = raw.split(" ")
    if len(parts) != 3 or "\t" in raw:
        return None
    method, target, version = parts
    if (
        version not in _PLAIN_VERSIONS
        or not target
        or (method not in _COMMON_METHODS and not _TOKEN_STR.match(method))
    ):
        return None
    if target[0] != "/":
        try:
            check_target_form(method, target)
        except HTTPError:
            return None
    rfile.read(end + 4)
    return RequestLine(method, target, version, raw), fields, len(data) - end - 4


_PLAIN_VERSIONS = frozenset({"HTTP/1.1", "HTTP/1.0"})
_COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def read_headers(rfile: ByteReader) -> list[tuple[str, str]]:
    """Read header field lines up to the empty line; names keep their case, values are trimmed.

    A header section cut short by EOF raises :class:`IncompleteRequest`: an incomplete message
    is never processed (RFC 9112 §8), whether the client died or our own shutdown cut it.
    """
    headers: list[tuple[str, str]] = []
    total = 0
    while True:
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if line == b"\r\n" or line == b"\n":
            return headers
        if not line.endswith(b"\n") and len(line) <= MAX_HEADER_LINE:
            raise IncompleteRequest("connection closed inside the header section")
        total += len(line)
        if len(line) > MAX_HEADER_LINE or total > MAX_HEADER_BYTES:
            raise HeaderFieldsTooLarge(f"header section larger than {MAX_HEADER_BYTES} bytes")
        if len(headers) >= MAX_HEADER_COUNT:
            raise HeaderFieldsTooLarge(f"more than {MAX_HEADER_COUNT} header fields")
        headers.append(parse_header_line(line))


def parse_header_line(line: bytes) -> tuple[str, str]:
    """``name: value`` with no whitespace before the colon and no obs-fold (RFC 9112 §5)."""
    name, sep, value = line.partition(b":")
    if not sep or not _TOKEN.match(name):
        # Covers obs-fold (leading whitespace), "Name : v" and missing colons alike.
        shown = line.rstrip(b"\r\n").decode("latin-1")
        raise BadRequest(f"malformed header line {shown!r}")
    value = _without_line_ending(value).strip(b" \t")
    if _BAD_VALUE.search(value):
        raise BadRequest(f"invalid character in header {name.decode('ascii')!r}")
    return name.decode("ascii"), value.decode("latin-1")


def is_token(text: str) -> bool:
    """True for an RFC 9110 token (a valid header field name or method)."""
    return _TOKEN_STR.match(text) is not None


class Framing(NamedTuple):
    """What the header section says about the body and the connection."""

    length: int  # body length in bytes; -1 when the body is chunked
    keep_alive: bool  # the client allows another request on this connection
    expect_continue: bool  # the client waits for "100 Continue" before sending the body


# 18 digits keep every length below sys.maxsize on 64-bit builds, so reads never overflow.
_DIGITS = re.compile(r"[0-9]{1,18}\Z")
CHUNKED = -1


# Which of the fields that frame a request a name is, by the name as sent: clients send the
# same names every time. Bounded, so hostile clients cannot grow it.
_OTHER, _HOST, _CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION, _EXPECT = range(6)
_FRAMING = {
    "host": _HOST,
    "content-length": _CONTENT_LENGTH,
    "transfer-encoding": _TRANSFER_ENCODING,
    "connection": _CONNECTION,
    "expect": _EXPECT,
}
_FRAMING_KINDS: dict[str, int] = {}
_FRAMING_KINDS_MAX = 1024


def _framing_kind(name: str) -> int:
    kind = _FRAMING.get(name.lower(), _OTHER)
    if len(_FRAMING_KINDS) < _FRAMING_KINDS_MAX:
        _FRAMING_KINDS[name] = kind
    return kind


def request_framing(fields: list[tuple[str, str]], http11: bool) -> Framing:
    """Decide how the body is delimited and whether the connection persists (RFC 9112 §6, §9.3).

    Ambiguous framing is refused rather than guessed: it is how requests get smuggled past
    proxies (RFC 9112 §6.3, §11.2).
    """
    lengths: list[str] = []
    codings: list[str] = []
    has_transfer_encoding = False
    connection: list[str] = []
    expect_continue = False
    hosts = 0
    for name, value in fields:
        kind = _FRAMING_KINDS.get(name)
        if kind is None:
            kind = _framing_kind(name)
        if kind == _OTHER:
            continue
        if kind == _HOST:
            hosts += 1
        elif kind == _CONTENT_LENGTH:
            lengths.extend(part.strip() for part in value.split(","))
        elif kind == _TRANSFER_ENCODING:
            has_transfer_encoding = True  # even empty: "Transfer-Encoding: ," is not "none"
            codings.extend(part.strip().lower() for part in value.split(",") if part.strip())
        elif kind == _CONNECTION:
            connection.extend(part.strip().lower() for part in value.split(","))
        else:
            expect_continue = value.lower() == "100-continue"
    if hosts > 1 or (http11 and hosts != 1):
        raise BadRequest("a request needs one Host header, HTTP/1.1 exactly one (RFC 9112 §3.2)")
    keep_alive = "close" not in connection if http11 else "keep-alive" in connection
    if has_transfer_encoding:
        if not http11:
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
        if lengths:
            raise BadRequest("both Transfer-Encoding and Content-Length")
        if not codings or codings[-1] != "chunked" or codings.count("chunked") != 1:
            raise BadRequest(f"Transfer-Encoding {', '.join(codings)!r} does not end in chunked")
        if len(codings) > 1:
            raise NotImplementedCoding(f"transfer coding {codings[0]!r} is not supported")
        return Framing(CHUNKED, keep_alive, expect_continue and http11)
    if not lengths:
        return Framing(0, keep_alive, False)
    if any(not _DIGITS.match(part) for part in lengths) or len(set(lengths)) != 1:
        raise BadRequest(f"invalid Content-Length {', '.join(lengths)!r}")
    length = int(lengths[0])
    return Framing(length, keep_alive, expect_continue and http11 and length > 0)
