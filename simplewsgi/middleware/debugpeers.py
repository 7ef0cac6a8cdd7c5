"""Who may read an error's details (the reloader's error page, the ``--debug`` page).

Rules of this module:
- Decided from the socket's peer, never from what a client says: ``middleware.PEER`` when a
  layer kept it (proxy headers rewrite ``REMOTE_ADDR``), else ``REMOTE_ADDR`` as the server set
  it. Loopback (``127.0.0.0/8``, ``::1``, IPv4-mapped loopback) and a unix-socket peer
  (``REMOTE_ADDR`` is ``""``: only who may open the socket file) are allowed; so is what
  ``--debug-allow-ips`` names (``--forwarded-allow-ips``'s syntax, parsed by
  :class:`.proxy.TrustedPeers`).
- Headers can only take details away, never grant them. A request that carries
  ``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``, ``X-Forwarded-Host``/``-Proto``/``-Prefix``
  or ``Via`` came through a proxy, and a local proxy
  (nginx on 127.0.0.1 or on a unix socket) makes every Internet client look local: such a
  request gets details only when ``--proxy-headers`` took its client from a trusted proxy
  (``middleware.FORWARDED_CLIENT``) and that client is allowed too. A client that sends those
  headers itself only loses its own details.
- The ``Host`` a browser sent must be a name of this machine: an IP address, ``localhost`` or
  a ``*.localhost`` name, or this machine's host name (``socket.gethostname()``, with
  ``.local``, or its full name). Otherwise a page on an attacker's name, rebound to 127.0.0.1
  (DNS rebinding), would be a loopback peer of the same origin as the details, and read them.
- Everyone else gets a plain 500 that says nothing of the code.

Imported only when an error is about to be shown (``ipaddress`` is not free at start-up).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
from typing import TYPE_CHECKING, Optional

from simplewsgi.middleware import FORWARDED_CLIENT, PEER
from simplewsgi.middleware.forwarded import parse_ip
from simplewsgi.middleware.proxy import TrustedPeers

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# Any of these says a proxy passed the request on (RFC 9110's Via included).
_PROXY_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_VIA",
)
# Said by the plain 500 (wsgiref's words, which tests written against it look for).
PLAIN_BODY = b"A server error occurred.  Please contact the administrator."


def is_local(address: str) -> bool:
    """A loopback address (any spelling, IPv4-mapped too), or ``""`` (a unix-socket peer)."""
    if not address:
        return True
    normalized = parse_ip(address)  # IPv4-mapped as IPv4; a zone id is no address
    return normalized is not None and ipaddress.ip_address(normalized).is_loopback


@functools.lru_cache(maxsize=1)
def _machine_names() -> frozenset[str]:
    """This machine's own names (asked once, the first time a name is not an obvious one)."""
    short = socket.gethostname().lower().rstrip(".")
    names = {short, short + ".local"}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower().rstrip("."))
    return frozenset(name for name in names if name)


def is_local_name(host: object) -> bool:
    """True if a ``Host`` header names this machine (module rules); a request without one is
    no browser's."""
    if host is None:
        return True
    text = str(host).strip().lower()
    if text.startswith("["):  # [v6]:port
        return text.find("]") > 0 and parse_ip(text[1 : text.find("]")]) is not None
    name = text.rpartition(":")[0] if text.count(":") == 1 else text
    name = name.rstrip(".")
    if not name:
        return False
    if parse_ip(name) is not None or name == "localhost" or name.endswith(".localhost"):
        return True
    return name in _machine_names()


class DetailsPolicy:
    """``allow`` is ``--debug-allow-ips`` (``""``: loopback and unix-socket peers only)."""

    def __init__(self, allow: str = "") -> None:
        self.extra: Optional[TrustedPeers] = TrustedPeers(allow) if allow.strip() else None

    def _allowed(self, address: str) -> bool:
        return is_local(address) or (self.extra is not None and address in self.extra)

    def allows(self, environ: WSGIEnvironment) -> bool:
        """May the client of ``environ`` read an error's details?"""
        peer = environ.get(PEER, environ.get("REMOTE_ADDR"))  # missing: no peer we know
        if not isinstance(peer, str) or not self._allowed(peer):
            return False
        if not is_local_name(environ.get("HTTP_HOST")):
            return False
        if any(name in environ for name in _PROXY_HEADERS):
            client = environ.get(FORWARDED_CLIENT)
            return isinstance(client, str) and self._allowed(client)
        return True


def plain_500(start_response: StartResponse, exc_info: OptExcInfo | None = None) -> list[bytes]:
    """The answer for who may not see details: nothing of the code, only that it failed."""
    start_response(
        "500 Internal Server Error",
        [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(PLAIN_BODY))),
            ("Cache-Control", "no-store"),
        ],
        exc_info,
    )
    return [PLAIN_BODY]
