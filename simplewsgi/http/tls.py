"""TLS for the core: a server context from certificate files, and each connection's handshake.

Rules of this module:
- Standard library only, and imported only once a server has an ``ssl_context``, so plain
  serving never loads it (``ssl`` itself is loaded anyway: ``http.server`` imports
  ``http.client``, which imports it).
- The handshake runs in the connection's own thread (the handler's ``setup()``), never in the
  accept loop, within one deadline in all (the handler's ``header_timeout``): a client that
  trickles its ClientHello holds a thread no longer than one that trickles a request head.
- Before the handshake the first byte is peeked at: every TLS connection starts with a
  handshake record (content type 22, RFC 8446 §5.1), so anything else is plain HTTP sent to the
  TLS port, which the handler answers with a 400 that says to use https.
- The TLS socket wraps a duplicate of the accepted socket. The server keeps tracking, shutting
  down and closing the socket it accepted: a stop's shutdown from another thread acts on the
  shared connection, never on the ``SSLSocket`` object, which is not thread-safe. The handler
  closes the duplicate, after a close_notify (OpenSSL 3 clients call a close without one a
  truncation).
- A broken TLS session (a protocol error, an EOF in violation of the protocol) is the client
  going away: :class:`TLSSocket` raises :class:`TLSDisconnect`, a ``ConnectionError``, so a
  cut download is a disconnect in the log, never an application error with a traceback.
- ``socket.sendfile`` on an ``SSLSocket`` encrypts what it sends (it reads the file and sends
  through TLS); ``os.sendfile`` on its descriptor would put plaintext on the wire, and nothing
  here or in the response path calls it.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import time
from typing import Any, Optional

from simplewsgi.http.errors import (
    HandshakeFailed,
    HTTPError,
    NotTLS,
    PlainHTTPOnTLSPort,
    TLSConfigError,
)
from simplewsgi.http.limits import MAX_LOGGED_LINE
from simplewsgi.http.net import TLS_HANDSHAKE_RECORD, host_port
from simplewsgi.http.parsing import split_absolute_form

# A PEM certificate chain or key is a few KiB; a file larger than this is not one.
MAX_PEM_BYTES = 1024 * 1024
# Application protocols offered (RFC 7301): HTTP/1.1 only, so no client tries h2 here.
ALPN_PROTOCOLS = ["http/1.1"]
# What OpenSSL's reason codes mean for someone reading the server's log.
_UNTRUSTED = "the client does not trust this certificate"
_HANDSHAKE_REASONS = {
    "TLSV1_ALERT_UNKNOWN_CA": _UNTRUSTED,
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": _UNTRUSTED,
    "SSLV3_ALERT_BAD_CERTIFICATE": _UNTRUSTED,
    "TLSV1_ALERT_ACCESS_DENIED": _UNTRUSTED,
    "NO_SHARED_CIPHER": "no cipher in common with the client",
    "UNSUPPORTED_PROTOCOL": "the client's TLS version is too old",
    "WRONG_VERSION_NUMBER": "the client's TLS version is not supported",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common with the client",
}


class TLSDisconnect(ssl.SSLError, ConnectionError):
    """The TLS session broke (the client cut it, or sent what is not TLS): the client is gone.
    Still an ``ssl.SSLError``, for code that catches those."""


class TLSSocket(ssl.SSLSocket):
    """An ``SSLSocket`` whose broken sessions raise :class:`TLSDisconnect` (a ConnectionError).
    ``recv``, ``recv_into`` and ``makefile`` read through :meth:`read`; ``sendall`` and
    ``sendfile`` send through :meth:`send`."""

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        try:
            return super().read(len, buffer)
        except ssl.SSLError as error:
            raise _disconnect(error) from error

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return super().send(data, flags)
        except ssl.SSLError as error:
            raise _disconnect(error) from error


def _disconnect(error: ssl.SSLError) -> ssl.SSLError:
    if isinstance(error, (TLSDisconnect, ssl.SSLWantReadError, ssl.SSLWantWriteError)):
        return error  # non-blocking use: not a broken session
    return TLSDisconnect(error.errno, f"TLS session broken: {_reason(error)}")


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    if isinstance(error, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return "the client closed the connection"
    if reason:
        return str(reason).lower().replace("_", " ")
    return str(error) or type(error).__name__


def server_context(
    certfile: str, keyfile: Optional[str] = None, password: Optional[str] = None
) -> ssl.SSLContext:
    """A server-side context for ``certfile`` (PEM: the certificate, then any intermediates)
    and its private key (``keyfile``, or in ``certfile`` itself), TLS 1.2 or later.

    Raises :class:`TLSConfigError` saying which file is wrong and how: unreadable, not PEM, no
    key, an encrypted key without ``password`` or with a wrong one, a key that does not match
    the certificate. An encrypted key never makes OpenSSL prompt on the terminal."""
    keyfile = keyfile or certfile
    cert_text = _read(certfile, "certificate")
    if b"-----BEGIN CERTIFICATE-----" not in cert_text:
        raise TLSConfigError(f"{certfile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    key_text = cert_text if keyfile == certfile else _read(keyfile, "private key")
    if b"PRIVATE KEY-----" not in key_text:
        if keyfile == certfile:
            raise TLSConfigError(f"{certfile} holds no private key: give the key file too")
        raise TLSConfigError(f"{keyfile} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
    encrypted = b"ENCRYPTED" in key_text

    def ask_password() -> str:
        if password is None:  # OpenSSL would otherwise prompt on the terminal
            raise TLSConfigError(f"the private key in {keyfile} is encrypted: give its password")
        return password

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    context.sslsocket_class = TLSSocket
    try:
        context.load_cert_chain(certfile, keyfile, password=ask_password)
    except ssl.SSLError as error:
        if getattr(error, "reason", None) == "KEY_VALUES_MISMATCH":
            raise TLSConfigError(
                f"the private key in {keyfile} does not match the certificate in {certfile}"
            ) from None
        if encrypted:
            raise TLSConfigError(f"wrong password for the private key in {keyfile}") from None
        raise TLSConfigError(
            f"cannot load the certificate {certfile} with the key {keyfile}: {_reason(error)}"
        ) from None
    except OSError as error:  # the file changed between the check and the load
        where = error.filename or certfile
        raise TLSConfigError(f"cannot read {where}: {error.strerror}") from None
    return context


def _read(path: str, what: str) -> bytes:
    """The file's bytes; a device or FIFO (read forever, or blocking) or a file too large to
    be a certificate chain is refused without reading it."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise TLSConfigError(f"{path} is not a regular file: give the {what} file")
        with open(path, "rb") as file:
            data = file.read(MAX_PEM_BYTES + 1)
    except OSError as error:
        raise TLSConfigError(f"cannot read the {what} file {path}: {error.strerror}") from None
    if len(data) > MAX_PEM_BYTES:
        raise TLSConfigError(f"{path} is larger than {MAX_PEM_BYTES} bytes: not a {what} file")
    return data


def accept(context: ssl.SSLContext, sock: socket.socket, timeout: Optional[float]) -> TLSSocket:
    """The TLS session on the accepted ``sock``, handshake done within ``timeout`` seconds
    (None: no deadline). Raises :class:`NotTLS` when the client speaks plain HTTP (nothing was
    read: the bytes are still there to parse), :class:`HandshakeFailed` otherwise. ``sock``
    stays the caller's; the returned socket is a duplicate, for the caller to :func:`close`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    sock.settimeout(timeout)
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except OSError:  # silent for the whole deadline, or reset: as quiet as a plain server
        raise HandshakeFailed() from None
    if not first:
        raise HandshakeFailed()
    if first[0] != TLS_HANDSHAKE_RECORD:
        raise NotTLS()
    if context.sslsocket_class is ssl.SSLSocket:  # a context the caller made: ours reports
        context.sslsocket_class = TLSSocket  # broken sessions as disconnects
    try:
        tls: Any = context.wrap_socket(sock.dup(), server_side=True, do_handshake_on_connect=False)
    except OSError as error:  # out of descriptors for the duplicate
        raise HandshakeFailed(f"cannot set up TLS: {error.strerror or error}") from None
    try:
        # One deadline for the whole handshake: CPython's do_handshake() counts its timeout
        # from the call, not per read.
        tls.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.001))
        tls.do_handshake()
    except (OSError, ValueError) as error:
        tls.close()
        if isinstance(error, (TimeoutError, socket.timeout)):
            raise HandshakeFailed(f"TLS handshake not complete within {timeout:g} s") from None
        if isinstance(error, (ConnectionError, ssl.SSLEOFError)):
            raise HandshakeFailed(
                "TLS handshake failed: the client closed the connection (it may not trust "
                "this certificate)"
            ) from None
        reason = getattr(error, "reason", None)
        words = _HANDSHAKE_REASONS.get(str(reason)) or _reason(error)
        raise HandshakeFailed(f"TLS handshake failed: {words}") from None
    return tls  # type: ignore[no-any-return]


def close(tls: ssl.SSLSocket) -> None:
    """Send close_notify without waiting for the client's, then close the TLS socket."""
    try:
        tls.settimeout(0.0)  # a client that stopped reading must not hold the thread here
        tls.unwrap()
    except (OSError, ValueError):  # the client's close_notify is not awaited; or gone already
        pass
    finally:
        tls.close()


def plain_http_refusal(target: str, fields: list[tuple[str, str]], local: Any) -> HTTPError:
    """The 400 for a plain HTTP request (``target``, header ``fields``) that reached the TLS
    port ``local`` (the socket's name): it says the https URL to use."""
    host = next((value for name, value in fields if name.lower() == "host"), "")
    if target[:1] != "/" and "://" in target:  # absolute form: its authority is the host
        host, target = split_absolute_form(target)
    url = https_url(host, target, local)
    if len(url) > MAX_LOGGED_LINE // 2:  # the answer's detail is bounded: keep the URL whole
        url = https_url(host, "/", local)
    return PlainHTTPOnTLSPort(f"this port speaks HTTPS (TLS): use {url}")


def https_url(host: str, path: str, local: Any) -> str:
    """Where a plain HTTP request should have gone: its Host and path over https, or the
    address it reached when it gave no usable Host."""
    if not host or any(char in host for char in " /\\?#@"):
        host = host_port(str(local[0]), int(local[1])) if isinstance(local, tuple) else "..."
    return f"https://{host}{path if path.startswith('/') else '/'}"
