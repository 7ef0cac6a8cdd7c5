"""Request bodies as ``wsgi.input`` and the ``wsgi.file_wrapper`` (PEP 3333).

Rules of this module:
- A body reader never reads past its own message: a ``Content-Length`` body stops at its length,
  a chunked body at its last chunk and trailers (RFC 9112 §6, §7.1). Whatever the app leaves
  unread is drained by the handler, so it can never be parsed as the next request.
- The peer closing mid-body raises :class:`ClientDisconnected` instead of returning short data
  that the app would take for a complete body.
- ``Expect: 100-continue`` is answered lazily, on the app's first read (RFC 9110 §10.1.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Callable, Optional

from simplewsgi.http.errors import BadRequest, ClientDisconnected
from simplewsgi.http.limits import MAX_CHUNK_LINE, MAX_HEADER_COUNT, MAX_TRAILER_BYTES
from simplewsgi.http.parsing import ByteReader, parse_header_line

# chunk-size [BWS ; chunk-ext] CRLF (RFC 9112 §7.1): whitespace only before an extension, and a
# real CRLF (bare LF is tolerated for start and field lines, not inside chunked framing).
# 15 hex digits keep every size below sys.maxsize, so reads never overflow.
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})(?:[ \t]*;[^\r\n]*)?\r\n\Z")
# Reads are done in blocks of at most this size: a client-announced length is never allocated
# in one piece before the bytes have arrived.
_COPY_BLOCK = 64 * 1024


def read_up_to(rfile: ByteReader, size: int) -> bytes:
    """Up to ``size`` bytes (fewer only at EOF), read in bounded blocks."""
    if size <= _COPY_BLOCK:
        return rfile.read(size)
    parts = []
    while size > 0:
        part = rfile.read(min(size, _COPY_BLOCK))
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


class RequestBody:
    """Base of the ``wsgi.input`` streams: read, readline, readlines and iteration."""

    broken = False  # a framing error or a disconnect was met: never drain, never reuse

    def _broke(self, error: Exception) -> Exception:
        """Remember that this body's framing can no longer be trusted; return ``error``."""
        self.broken = True
        return error

    def __init__(self, rfile: ByteReader, on_first_read: Optional[Callable[[], None]]) -> None:
        self._rfile = rfile
        self._on_first_read = on_first_read

    @property
    def continue_pending(self) -> bool:
        """True while a requested ``100 Continue`` has not been sent (the body was never read)."""
        return self._on_first_read is not None

    def _start(self) -> None:
        hook, self._on_first_read = self._on_first_read, None
        if hook is not None:
            hook()

    @property
    def finished(self) -> bool:
        raise NotImplementedError

    def read(self, size: Optional[int] = -1) -> bytes:
        raise NotImplementedError

    def readline(self, size: Optional[int] = -1) -> bytes:
        raise NotImplementedError

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def may_drain(self, limit: int) -> bool:
        """False unless the unread rest is known to be within ``limit`` and to be sent."""
        return self.finished

    def drain(self, limit: int) -> bool:
        """Discard the unread rest, up to ``limit`` bytes; True when the body is now complete.
        False once the body's framing was found broken: the stream can no longer be trusted,
        whatever the app made of the error (RFC 9112 §11.2)."""
        if self.finished:
            return True
        if self.broken or self.continue_pending:
            # The client is waiting for permission to send; do not solicit a body nobody wants.
            return False
        while limit > 0 and not self.finished:
            data = self.read(min(limit, _COPY_BLOCK))
            if not data:
                break
            limit -= len(data)
        return self.finished


class FixedLengthBody(RequestBody):
    """A body framed by ``Content-Length``: EOF after exactly ``length`` bytes."""

    def __init__(
        self, rfile: ByteReader, length: int, on_first_read: Optional[Callable[[], None]] = None
    ) -> None:
        super().__init__(rfile, on_first_read if length else None)
        self._remaining = length

    @property
    def finished(self) -> bool:
        return self._remaining == 0

    def may_drain(self, limit: int) -> bool:
        if self._remaining == 0:
            return True
        return not (self.broken or self.continue_pending) and self._remaining <= limit

    def _want(self, size: Optional[int]) -> int:
        """How many bytes to ask for (0 at the end); answers ``Expect: 100-continue`` first."""
        if self._remaining and self._on_first_read is not None:
            self._start()
        if size is None or size < 0 or size > self._remaining:
            return self._remaining
        return size

    def _took(self, data: bytes, complete: bool) -> bytes:
        left = self._remaining = self._remaining - len(data)
        if not complete:
            raise self._broke(ClientDisconnected(f"request body ended {left} bytes early"))
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        want = self._want(size)
        if not want:
            return b""
        data = read_up_to(self._rfile, want)
        return self._took(data, len(data) == want)

    def readline(self, size: Optional[int] = -1) -> bytes:
        want = self._want(size)
        if not want:
            return b""
        data = self._rfile.readline(want)
        return self._took(data, bool(data))


class ChunkedBody(RequestBody):
    """A ``Transfer-Encoding: chunked`` body, decoded; extensions ignored, trailers discarded."""

    def __init__(
        self, rfile: ByteReader, on_first_read: Optional[Callable[[], None]] = None
    ) -> None:
        super().__init__(rfile, on_first_read)
        self._chunk_left = 0  # bytes left in the current chunk's data
        self._after_data = False  # a chunk's data was read and its CRLF is still due
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    def _readline_or_disconnect(self, limit: int) -> bytes:
        line = self._rfile.readline(limit + 1)
        if not line:
            raise self._broke(ClientDisconnected("request body ended inside chunked framing"))
        if len(line) > limit or not line.endswith(b"\n"):
            raise self._broke(BadRequest("chunked framing line too long or unterminated"))
        return line

    def _next_chunk(self) -> bool:
        """Advance to a chunk with data left; False at the end of the body."""
        if self._done:
            return False
        if self._on_first_read is not None:
            self._start()
        if self._after_data:
            if self._readline_or_disconnect(2) != b"\r\n":
                raise self._broke(BadRequest("chunk data not followed by CRLF"))
            self._after_data = False
        match = _CHUNK_SIZE.match(self._readline_or_disconnect(MAX_CHUNK_LINE))
        if match is None:
            raise self._broke(BadRequest("malformed chunk size line"))
        size = int(match.group(1), 16)
        if size == 0:
            self._skip_trailers()
            self._done = True
            return False
        self._chunk_left = size
        self._after_data = True
        return True

    def _skip_trailers(self) -> None:
        """Read the trailer section: each field checked like a header field (RFC 9112 §7.1.2),
        then discarded (no server-side use, and merging them into the environ after the app
        has started would be too late)."""
        total = count = 0
        while True:
            line = self._readline_or_disconnect(MAX_TRAILER_BYTES)
            if line in (b"\r\n", b"\n"):
                return
            total += len(line)
            count += 1
            if total > MAX_TRAILER_BYTES or count > MAX_HEADER_COUNT:
                raise self._broke(BadRequest("chunked trailer section too large"))
            try:
                parse_header_line(line)
            except BadRequest as error:
                raise self._broke(
                    BadRequest(f"in the chunked trailer section: {error.detail}")
                ) from None

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            size = -1
        parts: list[bytes] = []
        while size != 0 and (self._chunk_left or self._next_chunk()):
            want = self._chunk_left if size < 0 else min(size, self._chunk_left)
            data = read_up_to(self._rfile, want)
            if len(data) < want:
                raise self._broke(ClientDisconnected("request body ended inside a chunk"))
            self._chunk_left -= want
            parts.append(data)
            if size > 0:
                size -= want
        return b"".join(parts)

    def readline(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            size = -1
        parts: list[bytes] = []
        while size != 0 and (self._chunk_left or self._next_chunk()):
            want = self._chunk_left if size < 0 else min(size, self._chunk_left)
            data = self._rfile.readline(want)
            if not data:
                raise self._broke(ClientDisconnected("request body ended inside a chunk"))
            self._chunk_left -= len(data)
            parts.append(data)
            if size > 0:
                size -= len(data)
            if data.endswith(b"\n"):
                break
        return b"".join(parts)


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; the handler sends real files with
    ``socket.sendfile`` instead of iterating."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        blksize = self.blksize
        while True:
            data = read(blksize)
            if not data:
                return
            yield data
