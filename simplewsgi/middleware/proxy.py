"""``--proxy-headers``: believe what trusted proxies say about the client, and nobody else.

Rules of this module:
- The peer (the socket's other end) must be trusted (``--forwarded-allow-ips``: addresses,
  networks such as ``10.0.0.0/8``, ``*`` for any peer, and ``unix`` for a peer on a unix socket,
  whose ``REMOTE_ADDR`` is empty: only processes allowed to open the socket file can be one,
  which is why the default, ``127.0.0.1,::1,unix``, trusts them like loopback). An untrusted
  peer's headers change nothing.
- The client is found by walking the hops from our side: the peer, then ``X-Forwarded-For``
  (or ``Forwarded``'s ``for=``) from right to left, past every trusted address; the first
  untrusted one is the client (all trusted: the leftmost). A client that writes its own
  ``X-Forwarded-For: 1.2.3.4`` gets it appended to, so its lie is left of the address the
  proxy saw and is never reached. An entry that is not an IP (``unknown``, ``_hidden``,
  garbage) ends the walk: ``REMOTE_ADDR`` is then the last address reached.
- ``X-Forwarded-Proto``, ``-Host`` and ``-Prefix`` are read from the same hop as the client: the
  entry as far from the right as the client's, or the leftmost when a proxy wrote a single value
  (a list one proxy appended to lines up with ``X-Forwarded-For``, so a client's own ``https``
  is left of the proxy's ``http``). In ``Forwarded`` the client's element carries them.
- The peer is kept as ``middleware.PEER`` and a client taken from the headers is also
  ``middleware.FORWARDED_CLIENT``: who may read an error's details is decided from them.
- Applied: ``REMOTE_ADDR`` (and ``REMOTE_PORT`` when a port was given, else removed: the peer's
  port says nothing about the client), ``wsgi.url_scheme`` (``http``/``https``, overriding a TLS
  listener's; ``HTTPS`` follows it), ``HTTP_HOST``, and ``SCRIPT_NAME`` (the prefix,
  percent-decoded, before what is there). Values that do not parse are ignored one by one. The
  headers stay in the environ.
- ``X-Forwarded-For``/``-Proto``/``-Host`` win over ``Forwarded``: almost every proxy writes the
  former and passes a client's ``Forwarded`` on untouched, so reading ``Forwarded`` only when
  none of them is present keeps a client from choosing its address. Behind a proxy that writes
  only ``Forwarded``, have it remove incoming ``X-Forwarded-*``.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Callable, Optional, Union
from urllib.parse import unquote

from simplewsgi.middleware import FORWARDED_CLIENT, PEER
from simplewsgi.middleware.forwarded import (
    Node,
    forwarded_elements,
    parse_element,
    parse_host,
    parse_ip,
    parse_node,
    parse_scheme,
    split_list,
)
from simplewsgi.middleware.prefix import PrefixError, url_prefix

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ANY = "*"
UNIX = "unix"  # a peer on a unix socket (REMOTE_ADDR is "")
_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
_CACHE_MAX = 1024


class TrustError(ValueError):
    """A ``--forwarded-allow-ips`` entry that is not an address, a network, ``*`` or ``unix``."""


class TrustedPeers:
    """Which addresses may speak for a client; ``spec`` is comma-separated entries."""

    def __init__(self, spec: str) -> None:
        self.any = False
        self.unix = False
        self.networks: list[_Network] = []
        self.entries = [item.strip() for item in spec.split(",") if item.strip()]
        if not self.entries:
            raise TrustError(f"{spec!r} names no peer: give addresses, networks, '*' or 'unix'")
        for entry in self.entries:
            if entry == ANY:
                self.any = True
            elif entry.lower() == UNIX:
                self.unix = True
            else:
                try:
                    self.networks.append(ipaddress.ip_network(entry))
                except ValueError as error:
                    raise TrustError(
                        f"{entry!r} is not an IP address, a network (10.0.0.0/8), "
                        f"'{ANY}' or '{UNIX}' ({error})"
                    ) from None
        self._seen: dict[str, bool] = {}

    def __str__(self) -> str:
        return ",".join(self.entries)

    def __contains__(self, address: str) -> bool:
        """``address`` is an IP (any spelling) or ``""`` for a unix-socket peer."""
        if self.any:
            return True
        if not address:
            return self.unix
        trusted = self._seen.get(address)
        if trusted is None:
            ip = parse_ip(address)
            trusted = ip is not None and any(
                ipaddress.ip_address(ip) in network for network in self.networks
            )
            if len(self._seen) < _CACHE_MAX:
                self._seen[address] = trusted
        return trusted


def normalize(spec: str) -> str:
    """``spec`` checked (raises :class:`TrustError`) and written the one canonical way."""
    return str(TrustedPeers(spec))


class ProxyHeaders:
    """The WSGI layer; ``trusted`` says which peers may speak for the client."""

    def __init__(self, app: WSGIApplication, trusted: TrustedPeers) -> None:
        self.app = app
        self.trusted = trusted

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        if peer in self.trusted:
            environ.setdefault(PEER, peer)  # the debug layer, outside, may have kept it
            apply_forwarded(environ, self.trusted)
        return self.app(environ, start_response)


def apply_forwarded(environ: WSGIEnvironment, trusted: TrustedPeers) -> None:
    """Rewrite ``environ`` from its proxy headers; the peer is trusted already."""
    xff = environ.get("HTTP_X_FORWARDED_FOR")
    xfp = environ.get("HTTP_X_FORWARDED_PROTO")
    xfh = environ.get("HTTP_X_FORWARDED_HOST")
    forwarded = environ.get("HTTP_FORWARDED")
    proto = host = None
    if xff is not None or xfp is not None or xfh is not None or forwarded is None:
        entries = split_list(xff) if xff is not None else []
        distance, client = _walk(entries, parse_node, trusted)
        if xfp is not None:
            proto = parse_scheme(_at(split_list(xfp), distance))
        if xfh is not None:
            host = parse_host(_at(split_list(xfh), distance))
    else:
        elements = forwarded_elements(forwarded)
        distance, client = _walk(elements, _element_node, trusted)
        # The element at the client's hop was written by a trusted proxy (the walk got there),
        # even when its for= is unknown: its proto and host are that proxy's word.
        hop = parse_element(elements[-1 - distance])
        if hop is not None:
            proto, host = hop.proto, hop.host
    if client is not None:
        environ["REMOTE_ADDR"] = environ[FORWARDED_CLIENT] = client.ip
        if client.port is not None:
            environ["REMOTE_PORT"] = client.port
        else:
            environ.pop("REMOTE_PORT", None)
    if proto is not None:
        environ["wsgi.url_scheme"] = proto
        if proto == "https":  # HTTPS as CGI servers set it, agreeing with the scheme
            environ["HTTPS"] = "on"
        else:
            environ.pop("HTTPS", None)
    if host is not None:
        environ["HTTP_HOST"] = host
    xfprefix = environ.get("HTTP_X_FORWARDED_PREFIX")
    if xfprefix is not None:
        prefix = _prefix(_at(split_list(xfprefix), distance))
        if prefix is not None:
            environ["SCRIPT_NAME"] = prefix + environ.get("SCRIPT_NAME", "")


def _element_node(text: str) -> Optional[Node]:
    hop = parse_element(text)
    return hop.node if hop is not None else None


def _walk(
    entries: list[str], parse: Callable[[str], Optional[Node]], trusted: TrustedPeers
) -> tuple[int, Optional[Node]]:
    """Walk the hops ``entries`` (client side first) from the right, the peer being trusted:
    (how far from the right the client's hop is, the last address reached, or None). Entries
    are parsed only as far as the walk goes: a list a client padded costs nothing past the
    first untrusted address."""
    reached: Optional[Node] = None
    distance = 0
    for distance, entry in enumerate(reversed(entries)):
        node = parse(entry)
        if node is None:
            return distance, reached
        reached = node
        if node.ip not in trusted:
            break
    return distance, reached


def _at(values: list[str], distance: int) -> str:
    return values[max(len(values) - 1 - distance, 0)]


def _prefix(value: str) -> Optional[str]:
    """An ``X-Forwarded-Prefix`` value as ``SCRIPT_NAME`` holds it (decoded bytes as latin-1),
    or None when it is not a path prefix."""
    try:
        return url_prefix(unquote(value, "latin-1")) if value else None
    except PrefixError:
        return None
