"""``--lint``'s rules for what an app hands to ``start_response()`` and returns: each a function
from the app's values to complaints, each complaint a rule name and one plain sentence saying
what PEP 3333 (or RFC 9110) requires and how to fix it.

Rules of this module:
- A check only reads: it never changes, iterates up or copies what the app gave (a generator
  passed as headers would be used up), and never raises, whatever it is given.
- A sentence quotes the app's value shortened (:func:`shown`), so a complaint is one line.
- What real frameworks do is not a complaint: Django's ``Set-Cookie`` values begin with a
  space and its ``Content-Length`` is a ``str``; werkzeug and Flask pass lists of tuples.
  Only what PEP 3333 or HTTP forbids, or what no server can send as meant, is.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

from simplewsgi.http.parsing import is_token
from simplewsgi.http.response import HOP_BY_HOP

# A value is quoted up to this many characters in a sentence.
MAX_SHOWN = 60
# PEP 3333: "a Status-Code and a Reason-Phrase, in that order and separated by a single space,
# with no surrounding whitespace or other characters".
_STATUS_RE = re.compile(r"[1-9][0-9]{2} \S(?:.*\S)?", re.DOTALL)
# RFC 9110 §5.5: field values hold no control characters but HTAB (obs-text is allowed).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Status codes whose response has no body (RFC 9110 §6.4.1).
NO_BODY_CODES = (204, 304)


class Complaint(NamedTuple):
    rule: str  # a short name: reported once per rule and route
    sentence: str


def shown(value: object) -> str:
    """``repr(value)`` cut to :data:`MAX_SHOWN` characters."""
    try:
        text = repr(value)
    except Exception:  # an app's own __repr__ may fail: the complaint must not
        text = f"<{type(value).__name__}>"
    return cut(text)


def cut(text: str) -> str:
    """``text`` cut to :data:`MAX_SHOWN` characters."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def kind(value: object) -> str:
    """The type's name after "a" or "an": ``an int``, ``a str``."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def check_status(status: object) -> list[Complaint]:
    """The status: a native ``str`` of the form ``"NNN Reason"``, latin-1, no control
    characters, a final (not 1xx) code."""
    if type(status) is not str:
        fix = f": decode it, {shown(status)}.decode('latin-1')" if isinstance(status, bytes) else ""
        sub = " (a subclass of str)" if isinstance(status, str) else ""
        return [
            Complaint(
                "status-type",
                f"start_response() got the status as {type(status).__name__}{sub}; PEP 3333 "
                f"requires a native str such as '200 OK'{fix}",
            )
        ]
    found = []
    if _CONTROL_RE.search(status):
        found.append(
            Complaint(
                "status-control",
                f"the status {shown(status)} holds a control character (CR, LF or another); "
                "PEP 3333 forbids them: they would end or split the status line",
            )
        )
    elif not _STATUS_RE.fullmatch(status):
        found.append(
            Complaint(
                "status-form",
                f"the status {shown(status)} is not three digits, one space and a reason phrase; "
                "PEP 3333 requires that form, e.g. '404 Not Found'",
            )
        )
    elif status < "2":
        found.append(
            Complaint(
                "status-1xx",
                f"the status {shown(status)} is informational (1xx), which cannot end a WSGI "
                "response; send the final status (the server answers Expect: 100-continue)",
            )
        )
    elif status >= "6":
        found.append(
            Complaint(
                "status-range",
                f"the status code in {shown(status)} is outside 100-599 (RFC 9110 §15); clients "
                "may reject it: use a defined code",
            )
        )
    found += _latin1(f"the status {shown(status)}", status)
    return found


def _latin1(subject: str, text: str) -> list[Complaint]:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as error:
        bad = error.object[error.start : error.end]
        return [
            Complaint(
                "latin-1",
                f"{subject} holds {bad!r}, which is not latin-1; PEP 3333 "
                "requires latin-1 text: percent-encode it, or use RFC 8187's filename*=UTF-8''",
            )
        ]
    return []


def check_headers(headers: object) -> list[Complaint]:
    """The header list: a Python ``list`` of ``(str, str)`` tuples, names RFC 9110 tokens and
    not hop-by-hop, values latin-1 without CR, LF or other controls; one Content-Length, a
    number. A tuple is looked into (it cannot change); any other sequence is not."""
    if type(headers) is not list:
        sub = " (a subclass of list)" if isinstance(headers, list) else ""
        found = [
            Complaint(
                "headers-type",
                f"start_response() got headers as {kind(headers)}{sub}; PEP 3333 requires a list",
            )
        ]
        if not isinstance(headers, (list, tuple)):
            return found
    else:
        found = []
    lengths: list[str] = []
    for item in headers:
        found += check_header(item)
        if type(item) is tuple and len(item) == 2 and type(item[1]) is str:
            name = item[0]
            if type(name) is str and name.lower() == "content-length":
                lengths.append(item[1])
    if len(set(lengths)) > 1:
        found.append(
            Complaint(
                "content-length-twice",
                f"the headers hold Content-Length {shown(lengths[0])} and "
                f"{shown(lengths[1])}; send one",
            )
        )
    elif lengths and content_length(lengths[0]) is None:
        found.append(
            Complaint(
                "content-length-form",
                f"Content-Length {shown(lengths[0])} is not a number of bytes; send digits only, "
                "str(len(body))",
            )
        )
    return found


def check_header(item: object) -> list[Complaint]:
    if type(item) is not tuple or len(item) != 2:
        return [
            Complaint(
                "header-item",
                f"the header {shown(item)} is {kind(item)}"
                f"{'' if type(item) is not tuple else f' of {len(item)}'}; PEP 3333 requires "
                "(name, value) tuples",
            )
        ]
    name, value = item
    found = []
    for part, what in ((name, "name"), (value, "value")):
        if type(part) is not str:
            fix = ": decode it" if isinstance(part, bytes) else f": str({shown(part)})"
            found.append(
                Complaint(
                    f"header-{what}-type",
                    f"the header {shown(item)} has {kind(part)} {what}; PEP 3333 requires str{fix}",
                )
            )
    if found:
        return found
    assert isinstance(name, str) and isinstance(value, str)  # narrowed for mypy
    if not is_token(name):
        found.append(
            Complaint(
                "header-name",
                f"the header name {shown(name)} is not an RFC 9110 token (letters, digits and "
                "!#$%&'*+-.^_`|~, no space or colon); HTTP cannot send it",
            )
        )
    elif name.lower() == "status":
        found.append(
            Complaint(
                "header-status",
                "a Status header is CGI's way to set the status; in WSGI it is the first "
                "argument of start_response(): remove the header",
            )
        )
    elif name.lower() in HOP_BY_HOP:
        found.append(
            Complaint(
                "hop-by-hop",
                f"the header {name!r} is hop-by-hop; PEP 3333 leaves the connection to the "
                "server: remove it",
            )
        )
    if _CONTROL_RE.search(value):
        found.append(
            Complaint(
                "header-control",
                f"the value of {shown(name)} holds a control character ({shown(value)}); CR or "
                "LF would split the response (header injection): remove them",
            )
        )
    found += _latin1(f"the value of {shown(name)}, {shown(value)},", value)
    return found


def content_length(value: str) -> Optional[int]:
    """The number a Content-Length value says, or None when it is not plain digits."""
    return int(value) if value.isdigit() and value.isascii() else None


def declared_length(headers: object) -> Optional[int]:
    """The Content-Length the headers declare, when they are a list or tuple holding exactly
    one valid value; None otherwise (the other rules say what is wrong)."""
    if not isinstance(headers, (list, tuple)):
        return None
    values = {
        item[1]
        for item in headers
        if type(item) is tuple
        and len(item) == 2
        and type(item[0]) is str
        and type(item[1]) is str
        and item[0].lower() == "content-length"
    }
    return content_length(values.pop()) if len(values) == 1 else None


def status_code(status: object) -> int:
    """The status's code, 0 when it has none."""
    if type(status) is str and status[:3].isdigit() and status[:3].isascii():
        return int(status[:3])
    return 0


def check_body_item(item: object, where: str) -> list[Complaint]:
    """One item of the body (``where``: "the body" or "write()")."""
    if type(item) is bytes:
        return []
    if isinstance(item, str):
        fix = f": encode it, {shown(item)}.encode('utf-8')"
    elif isinstance(item, (bytearray, memoryview)):
        fix = ": convert it, bytes(data)"
    else:
        fix = ""
    return [
        Complaint(
            "body-type" if where == "the body" else "write-type",
            f"{where} gave {kind(item)} ({shown(item)}); PEP 3333 requires bytes{fix}",
        )
    ]


def check_body(result: object) -> list[Complaint]:
    """What the app returned, as a whole: an iterable of bytes, not a string or None."""
    if result is None:
        return [
            Complaint(
                "body-none",
                "the application returned None; PEP 3333 requires an iterable of bytes: "
                "return [] for an empty body",
            )
        ]
    if isinstance(result, str):
        return [
            Complaint(
                "body-string",
                f"the application returned a str ({shown(result)}) as its body, which is "
                "iterated one character at a time; return a list of bytes: [body.encode()]",
            )
        ]
    if isinstance(result, (bytes, bytearray)):
        return [
            Complaint(
                "body-string",
                f"the application returned {type(result).__name__} ({shown(result)}) as its body, "
                "which is iterated one byte at a time, as ints; return a list: [body]",
            )
        ]
    if not hasattr(result, "__iter__") and not hasattr(result, "__getitem__"):
        return [
            Complaint(
                "body-not-iterable",
                f"the application returned {kind(result)}, which is not iterable; PEP 3333 "
                "requires an iterable of bytes, e.g. [body]",
            )
        ]
    return []


def length_mismatch(declared: int, sent: int) -> Complaint:
    if sent < declared:
        what = f"its Content-Length announced {declared} bytes but the body had {sent}"
        effect = "the client waits for the rest"
    else:
        what = f"the body had {sent} bytes, more than the {declared} its Content-Length announced"
        effect = "the extra bytes are not sent"
    return Complaint(
        "content-length-mismatch",
        f"{what}; {effect} and the connection is closed: send len(body) or no Content-Length",
    )
