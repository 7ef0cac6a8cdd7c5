"""Every exception the core raises or catches by name, in one place.

- :class:`HTTPError` and its subclasses: a request the server refuses. Each knows its status
  and renders itself as a complete response that closes the connection.
- :class:`IncompleteRequest`, :class:`ClientDisconnected`: the client went away mid-message;
  nothing to answer. With :data:`CLIENT_GONE` they cost one quiet log line, never a traceback.
- :class:`WSGIContractError`: the application broke PEP 3333; the message says how.
- TLS: :class:`TLSConfigError` (a certificate or key that cannot be used), :class:`NotTLS`
  and :class:`HandshakeFailed` (a connection without a TLS session); here, not in
  :mod:`.tls`, so that they can be caught without importing ``ssl``. The one that subclasses
  ``ssl.SSLError`` (``tls.TLSDisconnect``) lives in :mod:`.tls`.
"""

from __future__ import annotations

import socket

from simplewsgi.http.limits import MAX_LOGGED_LINE, RETRY_AFTER
from simplewsgi.http.text import http_date

# A client silent for longer than a deadline (socket.timeout is TimeoutError from 3.10).
TIMEOUTS = (TimeoutError, socket.timeout)
# Exceptions that mean the client went away.
CLIENT_GONE = (ConnectionError, *TIMEOUTS)


class HTTPError(Exception):
    """A request the server refuses; renders itself as a complete, closing response."""

    status = 400
    reason = "Bad Request"
    extra_headers = ""  # more header lines of the answer, each ending in CRLF
    received = ""  # the request line as received (latin-1), when parsing it failed

    def __init__(self, detail: str = "") -> None:
        detail = detail or self.reason
        if len(detail) > MAX_LOGGED_LINE:  # it may quote what was received: bound it
            detail = detail[:MAX_LOGGED_LINE] + "..."
        super().__init__(detail)
        self.detail = detail

    def render(self, server_header: str, version: str = "HTTP/1.1") -> bytes:
        body = f"{self.status} {self.reason}: {self.detail}\n".encode("latin-1", "replace")
        head = (
            f"{version} {self.status} {self.reason}\r\n"
            f"Server: {server_header}\r\n"
            f"Date: {http_date()}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"{self.extra_headers}"
            "Connection: close\r\n\r\n"
        )
        return head.encode("latin-1") + body


class BadRequest(HTTPError):
    pass


class PlainHTTPOnTLSPort(BadRequest):
    """Plain HTTP sent to a port that speaks TLS; the detail says the https URL to use."""


class URITooLong(HTTPError):
    status = 414
    reason = "Request-URI Too Long"  # http.server's phrase, which wsgiref tests expect


class HeaderFieldsTooLarge(HTTPError):
    status = 431
    reason = "Request Header Fields Too Large"


class RequestTimeout(HTTPError):
    status = 408
    reason = "Request Timeout"


class NotImplementedCoding(HTTPError):
    status = 501
    reason = "Not Implemented"


class ServiceUnavailable(HTTPError):
    status = 503
    reason = "Service Unavailable"
    extra_headers = f"Retry-After: {RETRY_AFTER}\r\n"


class VersionNotSupported(HTTPError):
    status = 505
    reason = "HTTP Version Not Supported"


class IncompleteRequest(ConnectionError):
    """The connection ended inside a request head: nothing to answer, nobody to answer to."""


class ClientDisconnected(ConnectionError):
    """The client closed the connection before sending the whole request body."""


class WSGIContractError(Exception):
    """The application broke the WSGI contract (PEP 3333); the message says how."""


class TLSConfigError(ValueError):
    """A certificate or private key that cannot be used; the message says which file and why."""


class NotTLS(Exception):
    """The client's first byte is not a TLS handshake record: plain HTTP on the TLS port."""


class HandshakeFailed(ConnectionError):
    """No TLS session: ``reason`` says why in words, or is empty when nothing needs saying
    (the client sent nothing, or closed before its first byte)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "no TLS handshake")
        self.reason = reason
