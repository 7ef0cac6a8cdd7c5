"""What an app gives ``start_response``, checked: the status and each header (PEP 3333,
RFC 9110).

Rules of this module:
- Whatever is wrong is a :class:`~.errors.WSGIContractError` in plain words; nothing an app
  gives with CR, LF or NUL reaches the wire, nor a hop-by-hop header.
- Apps send the same status and header names on every response, so a valid status and a valid
  name are remembered (bounded: an app making names up cannot grow the caches) and checked
  once; a header's value is checked every time it is not part of a whole header list already
  checked (:func:`checked_fields`): what goes out for a list equal to a checked one is the text
  made when it was checked, so nothing unchecked reaches the wire.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from simplewsgi.http.errors import WSGIContractError
from simplewsgi.http.parsing import is_token

# RFC 9110 §7.6.1: connection-specific fields an app must not set (PEP 3333 "hop-by-hop").
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Statuses and header names already checked (apps send the same ones every time), so each
# check runs once per distinct value; bounded so an app making up names cannot grow them.
_VALID_STATUSES: dict[str, int] = {}  # status line -> its code
HEADER_KINDS: dict[str, int] = {}  # valid header name -> what the head needs to know of it
_CACHE_MAX = 1024
OTHER, CONTENT_LENGTH, SERVER, DATE = range(4)  # header kinds
_KINDS = {"content-length": CONTENT_LENGTH, "server": SERVER, "date": DATE}


def check_status(status: object) -> int:
    """The code of a valid WSGI status (PEP 3333: ``200 OK``, no 1xx, no CR, LF, NUL)."""
    code = _VALID_STATUSES.get(status) if type(status) is str else None
    if code is not None:
        return code
    if type(status) is not str:
        raise WSGIContractError(f"status must be a str like '200 OK', got {status!r}")
    digits = status[:3]
    if len(status) < 4 or not digits.isdigit() or not digits.isascii() or status[3] != " ":
        raise WSGIContractError(f"status must look like '200 OK', got {status!r}")
    if has_bad_chars(status):
        raise WSGIContractError(f"status contains CR, LF or NUL: {status!r}")
    if digits < "200":
        raise WSGIContractError(
            f"a 1xx status cannot be a WSGI response, got {status!r} (the server sends "
            "100 Continue itself; other interim responses have no WSGI form)"
        )
    code = int(digits)
    if len(_VALID_STATUSES) < _CACHE_MAX:
        _VALID_STATUSES[status] = code
    return code


def has_bad_chars(text: str) -> bool:
    """CR, LF or NUL: what would split or cut a head line."""
    return "\r" in text or "\n" in text or "\0" in text


def header_kind(name: object, value: object) -> int:
    """Check one header the app gave; what the head needs to know of its name (a kind)."""
    if type(name) is not str or type(value) is not str:
        raise WSGIContractError(f"header names and values must be str, got ({name!r}, {value!r})")
    kind = HEADER_KINDS.get(name)
    if kind is None:
        if not is_token(name):
            raise WSGIContractError(f"invalid header name {name!r}")
        lowered = name.lower()
        if lowered in HOP_BY_HOP:
            raise WSGIContractError(
                f"hop-by-hop header {name!r} is set by the server, not the application"
            )
        kind = _KINDS.get(lowered, OTHER)
        if len(HEADER_KINDS) < _CACHE_MAX:
            HEADER_KINDS[name] = kind
    if "\r" in value or "\n" in value or "\0" in value:
        raise WSGIContractError(f"header {name!r} has CR, LF or NUL in its value {value!r}")
    return kind


class Fields(NamedTuple):
    """What a checked header list puts in a head, and what the head needs to know of it."""

    text: bytes  # the field lines, each with its CRLF, as they go out
    length: Optional[int]  # the Content-Length the app gave, if any
    server: bool  # the app set Server
    date: bool  # the app set Date


# Header lists already checked -> their Fields. Apps send the same list on most responses
# (one per route, status and length): a list equal to one of these needs no check. Emptied
# when full, so the lists in use come back and one-off lists cannot grow it.
_CHECKED: dict[tuple[Any, ...], Fields] = {}
_CHECKED_MAX = 512


def checked_fields(headers: list[tuple[str, str]]) -> Fields:
    """The header list an app gave ``start_response``, checked (each pair, Content-Length
    digits and agreeing), as it goes out."""
    try:
        key = tuple(headers)
        fields = _CHECKED.get(key)
    except TypeError:  # an unhashable item: not a (str, str) pair, which the check says
        key, fields = None, None
    if fields is None:
        fields = _check_fields(headers)
        if key is not None:
            if len(_CHECKED) >= _CHECKED_MAX:
                _CHECKED.clear()
            _CHECKED[key] = fields
    return fields


def _check_fields(headers: list[tuple[str, str]]) -> Fields:
    lines = []
    length: Optional[int] = None
    server = date = False
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise WSGIContractError(f"headers must be (name, value) tuples, got {item!r}")
        name, value = item
        kind = header_kind(name, value)
        if kind == CONTENT_LENGTH:
            if not value.isdigit() or not value.isascii():
                raise WSGIContractError(f"Content-Length must be digits, got {value!r}")
            if length is not None and length != int(value):
                raise WSGIContractError(f"conflicting Content-Length headers {length} and {value}")
            length = int(value)
        elif kind == SERVER:
            server = True
        elif kind == DATE:
            date = True
        lines.append(f"{name}: {value}\r\n")
    return Fields(latin1("".join(lines)), length, server, date)


def latin1(text: str) -> bytes:
    """``text`` of a head as bytes; PEP 3333 allows latin-1 text only."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as error:
        bad = error.object[error.start : error.end]
        raise WSGIContractError(
            f"status and headers must be latin-1 text (PEP 3333); {bad!r} is not"
        ) from None
