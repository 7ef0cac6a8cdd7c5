"""One GET or HEAD answered from one open regular file: validators, 304, Range, the body.

Rules of this module (RFC 9110 §8.8, §13, §14):
- Validators: ``Last-Modified`` (whole seconds) and a strong ``ETag`` made of the file's inode,
  modification time in nanoseconds and size, so a same-size edit within the same second, or a
  file replaced by another, is a new tag; ``Cache-Control: no-cache`` makes the browser ask every
  time, so an edit on disk is seen without a restart, and the answer is a cheap 304 otherwise.
- ``If-None-Match`` (weak comparison, ``*``) wins over ``If-Modified-Since`` (§13.2.2).
- ``Range``: one ``bytes`` range (``a-b``, ``a-``, ``-n``) gets 206 with ``Content-Range``; a range
  that starts past the end, or a zero suffix, gets 416 with ``Content-Range: bytes */size``;
  several ranges, other units or a malformed header are ignored (200, as §14.2 allows);
  ``If-Range`` must match the ``ETag`` (strong comparison) or equal ``Last-Modified``.
- The body goes out through ``environ['wsgi.file_wrapper']``, so the server sends it with
  ``sendfile``; the file is wrapped in a :class:`FileSlice` that never reads past the announced
  length, so a file that grows while it is sent, or a server that iterates instead (TLS), never
  sends more than ``Content-Length``. HEAD gets the same head without the body (the server
  drops it and never reads the file).
"""

from __future__ import annotations

import io
import os
from email.utils import mktime_tz, parsedate_tz
from typing import TYPE_CHECKING, Optional, Union

from simplewsgi.http.text import imf_fixdate
from simplewsgi.middleware.mediatypes import content_type

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CACHE_CONTROL = "no-cache"  # revalidate every time: a development server serves fresh files
BLOCK_SIZE = 64 * 1024  # when the body is iterated instead of sent with sendfile
UNSATISFIABLE = "unsatisfiable"
_Range = Union[None, str, tuple[int, int]]  # whole file, UNSATISFIABLE, or (first, last) inclusive


class FileSlice:
    """A binary file read no further than ``end``; the rest of the file API (``fileno``,
    ``tell``, ``seek``) is the file's, so ``socket.sendfile`` uses the descriptor directly."""

    def __init__(self, file: io.FileIO, end: int) -> None:
        self._file = file
        self._end = end

    def fileno(self) -> int:
        return self._file.fileno()

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def read(self, size: Optional[int] = -1) -> bytes:
        left = self._end - self._file.tell()
        if left <= 0:
            return b""
        if size is None or size < 0 or size > left:
            size = left
        return self._file.read(size) or b""

    def close(self) -> None:
        self._file.close()


def entity_tag(info: os.stat_result) -> str:
    return f'"{info.st_ino:x}-{info.st_mtime_ns:x}-{info.st_size:x}"'


def serve_file(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    file: io.FileIO,
    info: os.stat_result,
    path: str,
) -> Iterable[bytes]:
    """Answer a GET or HEAD from ``file`` (open, regular, ``info`` its fstat), which is closed
    when the response is done; ``path`` names it (for its type)."""
    size = info.st_size
    etag = entity_tag(info)
    modified = int(info.st_mtime)
    validators = [("ETag", etag), ("Cache-Control", CACHE_CONTROL)]
    if _not_modified(environ, etag, modified):
        file.close()
        start_response("304 Not Modified", validators)
        return []
    span = _requested_range(environ, size, etag, modified)
    if span == UNSATISFIABLE:
        file.close()
        start_response(
            "416 Range Not Satisfiable",
            [("Content-Range", f"bytes */{size}"), ("Content-Length", "0")],
        )
        return []
    headers = [
        ("Content-Type", content_type(path)),
        ("Last-Modified", imf_fixdate(modified)),
        *validators,
        ("Accept-Ranges", "bytes"),
    ]
    if isinstance(span, tuple):
        first, last = span
        file.seek(first)
        body = FileSlice(file, last + 1)
        headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        headers.append(("Content-Length", str(last + 1 - first)))
        start_response("206 Partial Content", headers)
    else:
        body = FileSlice(file, size)
        headers.append(("Content-Length", str(size)))
        start_response("200 OK", headers)
    wrapper = environ.get("wsgi.file_wrapper") or _iterate
    result: Iterable[bytes] = wrapper(body, BLOCK_SIZE)
    return result


def _iterate(file: FileSlice, block: int) -> Iterable[bytes]:
    """PEP 3333's fallback when the server offers no ``wsgi.file_wrapper``."""
    from wsgiref.util import FileWrapper

    return FileWrapper(file, block)  # type: ignore[arg-type]  # it only calls read and close


def _not_modified(environ: WSGIEnvironment, etag: str, modified: int) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return _listed(if_none_match, etag)
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        when = _http_date(since)
        return when is not None and modified <= when
    return False


def _listed(field: str, etag: str) -> bool:
    """``etag`` is in the ``If-None-Match`` list (weak comparison: ``W/`` is ignored)."""
    if field.strip() == "*":
        return True
    for item in field.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        if item == etag:
            return True
    return False


def _requested_range(environ: WSGIEnvironment, size: int, etag: str, modified: int) -> _Range:
    field = environ.get("HTTP_RANGE")
    if not field:
        return None
    if_range = environ.get("HTTP_IF_RANGE")
    if if_range is not None and not _if_range_holds(if_range.strip(), etag, modified):
        return None
    unit, _, spec = field.partition("=")
    first_text, dash, last_text = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or "," in spec or not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    try:
        if not first_text:  # -n: the last n bytes
            count = _digits(last_text)
            if count == 0 or size == 0:
                return UNSATISFIABLE
            return (max(size - count, 0), size - 1)
        first = _digits(first_text)
        last = _digits(last_text) if last_text else None
    except ValueError:
        return None
    if last is not None and last < first:
        return None  # invalid, so ignored (§14.1.1)
    if first >= size:
        return UNSATISFIABLE
    return (first, size - 1 if last is None else min(last, size - 1))


def _digits(text: str) -> int:
    """ASCII digits only: ``int()`` would also take ``+1``, ``1_0`` and other scripts' digits."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def _if_range_holds(value: str, etag: str, modified: int) -> bool:
    if value.startswith('"'):
        return value == etag
    if value.startswith("W/"):
        return False  # a weak tag never validates a range (§13.1.5)
    return _http_date(value) == modified


def _http_date(value: str) -> Optional[int]:
    """Seconds since the epoch for an HTTP date (the three forms of RFC 9110 §5.6.7), or None."""
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    try:
        return mktime_tz(parsed)
    except (OverflowError, ValueError):
        return None
