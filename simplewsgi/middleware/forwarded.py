"""Reading what proxies write: ``X-Forwarded-*`` lists, RFC 7239 ``Forwarded``, addresses.

Everything here only parses; what to believe is :mod:`.proxy`'s decision. A value that does not
parse is None, never guessed at, so a client's garbage can stop a walk but never steer it.
Hops are listed as the headers list them, client side first (each proxy appends the address it
received the request from).
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple, Optional

# RFC 3986 host (reg-name, IPv4, [IPv6]) with an optional port, as Host allows (RFC 9110 §7.2).
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]+)(?::([0-9]{1,5}))?\Z")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # RFC 9110 §5.6.2
SCHEMES = ("http", "https")


class Node(NamedTuple):
    """One hop's address as a proxy wrote it: the IP (normalized text) and the port, if any."""

    ip: str
    port: Optional[str]


class Hop(NamedTuple):
    """One ``Forwarded`` element: the client address it names (None: unknown, obfuscated or
    malformed) and the ``proto`` and ``host`` that proxy received (None: not given)."""

    node: Optional[Node]
    proto: Optional[str]
    host: Optional[str]


def parse_ip(text: str) -> Optional[str]:
    """``text`` as a normalized IP address (an IPv4-mapped IPv6 address as IPv4), or None. A
    zone id (``fe80::1%eth0``) is refused: it names an interface of the sender's machine, means
    nothing here, and may hold any text (``ipaddress`` takes it as is), which would reach
    ``REMOTE_ADDR`` and the log."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def parse_node(text: str) -> Optional[Node]:
    """``1.2.3.4``, ``1.2.3.4:80``, ``::1``, ``[::1]``, ``[::1]:80`` -> a Node, else None."""
    text = text.strip()
    port: Optional[str] = None
    if text.startswith("["):
        host, bracket, tail = text[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            return None
        port = tail[1:] if tail else None
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has two or more
        host, _, port = text.partition(":")
    else:
        host = text
    if port is not None and not (port.isascii() and port.isdigit() and int(port) < 65536):
        return None
    ip = parse_ip(host)
    return Node(ip, port) if ip is not None else None


def split_list(value: str) -> list[str]:
    """A comma-separated field (several headers of one name arrive joined by commas)."""
    return [item.strip() for item in value.split(",")]


def parse_scheme(value: str) -> Optional[str]:
    scheme = value.strip().lower()
    return scheme if scheme in SCHEMES else None


def parse_host(value: str) -> Optional[str]:
    host = value.strip()
    match = _HOST.match(host)
    if match is None or (match.group(1) is not None and int(match.group(1)) > 65535):
        return None
    return host


def forwarded_elements(value: str) -> list[str]:
    """RFC 7239 §4: the elements of a ``Forwarded`` field, split at commas outside quoted
    strings (an unterminated quote makes the rest one element, which will not parse)."""
    return _split_outside_quotes(value, ",")


def parse_element(text: str) -> Optional[Hop]:
    """One element: pairs by ``;``, each value a token or a quoted string; None if malformed."""
    params: dict[str, str] = {}
    for pair in _split_outside_quotes(text, ";"):
        if not pair.strip():
            continue
        name, equals, raw = pair.strip().partition("=")
        name = name.lower()
        value = _unquote(raw)
        if not equals or not _TOKEN.match(name) or value is None or name in params:
            return None
        params[name] = value
    proto = params.get("proto")
    host = params.get("host")
    hop = Hop(
        parse_node(params["for"]) if "for" in params else None,
        parse_scheme(proto) if proto is not None else None,
        parse_host(host) if host is not None else None,
    )
    if (proto is not None and hop.proto is None) or (host is not None and hop.host is None):
        return None
    return hop


def _unquote(raw: str) -> Optional[str]:
    if _TOKEN.match(raw):
        return raw
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        return None
    out = []
    escaped = False
    for char in raw[1:-1]:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is not inside a quoted string."""
    parts = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts
