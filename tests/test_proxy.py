"""The proxy-headers and root-path layers, and the stack that orders them: WSGI calls in
process with synthetic environs (a unix-socket peer, a TLS listener, chains of proxies)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from simplewsgi.middleware import forwarded
from simplewsgi.middleware.proxy import ProxyHeaders, TrustedPeers, TrustError, normalize
from simplewsgi.middleware.rootpath import RootPath
from simplewsgi.middleware.stack import wrap
from simplewsgi.options import ServeOptions
from tests.helpers import run_in_memory

DEFAULT = ServeOptions._field_defaults["forwarded_allow_ips"]
SEEN = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME", "PATH_INFO")


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({key: environ.get(key) for key in SEEN}).encode()]


def environ(peer: Optional[str] = "127.0.0.1", scheme: str = "http", **headers: str) -> dict:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "HTTP_HOST": "backend:8000",
        "wsgi.url_scheme": scheme,
    }
    if peer is not None:
        env["REMOTE_ADDR"] = peer
        if peer:
            env["REMOTE_PORT"] = "50000"
    env.update({"HTTP_" + name.upper(): value for name, value in headers.items()})
    return env


def seen(layer: Any, env: dict[str, Any]) -> dict[str, Any]:
    """What the app behind ``layer`` saw of ``env``."""
    body = b"".join(layer(env, lambda status, headers: None))
    result: dict[str, Any] = json.loads(body)
    return result


def proxied(env: dict[str, Any], allow: str = DEFAULT) -> dict[str, Any]:
    return seen(ProxyHeaders(echo, TrustedPeers(allow)), env)


UNCHANGED = {
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "50000",
    "wsgi.url_scheme": "http",
    "HTTP_HOST": "backend:8000",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
}
ALL_HEADERS = {
    "X_FORWARDED_FOR": "203.0.113.7",
    "X_FORWARDED_PROTO": "https",
    "X_FORWARDED_HOST": "example.com",
    "X_FORWARDED_PREFIX": "/shop",
}


# --- trusted and untrusted peers ---------------------------------------------------------------


def test_a_trusted_peer_sets_address_scheme_host_and_prefix() -> None:
    assert proxied(environ(**ALL_HEADERS)) == {
        "REMOTE_ADDR": "203.0.113.7",
        "REMOTE_PORT": None,  # the proxy's port says nothing about the client
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "example.com",
        "SCRIPT_NAME": "/shop",
        "PATH_INFO": "/",
    }


def test_an_untrusted_peer_changes_nothing() -> None:
    outside = dict(UNCHANGED, REMOTE_ADDR="198.51.100.1")
    assert proxied(environ("198.51.100.1", **ALL_HEADERS)) == outside
    assert proxied(environ(**ALL_HEADERS), allow="10.0.0.0/8") == UNCHANGED
    forwarded_only = environ(FORWARDED='for=203.0.113.7;proto=https;host="example.com"')
    assert proxied(forwarded_only, allow="10.0.0.1") == UNCHANGED


def test_no_headers_change_nothing() -> None:
    assert proxied(environ()) == UNCHANGED


@pytest.mark.parametrize(
    ("peer", "allow", "trusted"),
    [
        ("127.0.0.1", DEFAULT, True),
        ("::1", DEFAULT, True),
        ("::ffff:127.0.0.1", DEFAULT, True),  # a dual-stack socket's IPv4 peer
        ("127.0.0.2", DEFAULT, False),  # the default is the loopback addresses, not 127/8
        ("10.1.2.3", "10.0.0.0/8", True),
        ("10.1.2.3", "10.0.0.0/16", False),
        ("2001:db8::5", "2001:db8::/32", True),
        ("8.8.8.8", "*", True),
        ("", DEFAULT, True),  # a unix-socket peer: the default trusts it like loopback
        ("", "127.0.0.1", False),  # ...unless the list leaves "unix" out
        ("", "unix", True),
        ("", "*", True),
        ("127.0.0.1", "unix", False),
    ],
)
def test_which_peers_are_trusted(peer: str, allow: str, trusted: bool) -> None:
    result = proxied(environ(peer, X_FORWARDED_FOR="203.0.113.7"), allow=allow)
    assert (result["REMOTE_ADDR"] == "203.0.113.7") is trusted


def test_a_unix_socket_peer_without_remote_addr_is_a_unix_peer() -> None:
    """The core sets no REMOTE_ADDR at all for a unix socket today; "" is the lead's plan."""
    for peer in (None, ""):
        assert proxied(environ(peer, X_FORWARDED_FOR="203.0.113.7"))["REMOTE_ADDR"] == "203.0.113.7"
        untrusted = proxied(environ(peer, X_FORWARDED_FOR="203.0.113.7"), allow="127.0.0.1,::1")
        assert untrusted["REMOTE_ADDR"] == peer


# --- chains, and clients that lie ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("xff", "allow", "client"),
    [
        # The client wrote its own X-Forwarded-For; our proxy appended what it saw.
        ("6.6.6.6, 203.0.113.7", DEFAULT, "203.0.113.7"),
        ("6.6.6.6, 127.0.0.1, 203.0.113.7", DEFAULT, "203.0.113.7"),
        # Two trusted proxies: walk past both.
        ("203.0.113.7, 10.0.0.2", "127.0.0.1,10.0.0.0/8", "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7, 10.0.0.2", "127.0.0.1,10.0.0.0/8", "203.0.113.7"),
        # Only the nearest is trusted: the next one is the client, whatever it says.
        ("203.0.113.7, 10.0.0.2", DEFAULT, "10.0.0.2"),
        # Every hop trusted: the leftmost.
        ("10.0.0.3, 10.0.0.2", "127.0.0.1,10.0.0.0/8", "10.0.0.3"),
        # Garbage stops the walk at the last address reached, never beyond it.
        ("203.0.113.7, garbage", DEFAULT, "127.0.0.1"),
        ("203.0.113.7, unknown, 10.0.0.2", "127.0.0.1,10.0.0.0/8", "10.0.0.2"),
        ("", DEFAULT, "127.0.0.1"),
        # Spellings: ports, brackets, IPv6, IPv4-mapped.
        ("203.0.113.7:4711", DEFAULT, "203.0.113.7"),
        ("[2001:db8::7]:4711", DEFAULT, "2001:db8::7"),
        ("2001:DB8:0::7", DEFAULT, "2001:db8::7"),
        ("::ffff:203.0.113.7", DEFAULT, "203.0.113.7"),
    ],
)
def test_the_client_in_a_chain(xff: str, allow: str, client: str) -> None:
    assert proxied(environ(X_FORWARDED_FOR=xff), allow=allow)["REMOTE_ADDR"] == client


def test_a_port_given_is_the_remote_port() -> None:
    result = proxied(environ(X_FORWARDED_FOR="[2001:db8::7]:4711"))
    assert (result["REMOTE_ADDR"], result["REMOTE_PORT"]) == ("2001:db8::7", "4711")


def test_proto_host_and_prefix_come_from_the_clients_hop() -> None:
    # The client sent its own https; our proxy appended the scheme it really received.
    spoofed = environ(
        X_FORWARDED_FOR="6.6.6.6, 203.0.113.7",
        X_FORWARDED_PROTO="https, http",
        X_FORWARDED_HOST="evil.test, example.com",
        X_FORWARDED_PREFIX="/evil, /shop",
    )
    result = proxied(spoofed)
    assert (result["wsgi.url_scheme"], result["HTTP_HOST"], result["SCRIPT_NAME"]) == (
        "http",
        "example.com",
        "/shop",
    )
    # Two proxies, each appending: the edge one's values, at the client's hop.
    chain = environ(
        X_FORWARDED_FOR="203.0.113.7, 10.0.0.2",
        X_FORWARDED_PROTO="https, http",
        X_FORWARDED_HOST="example.com, inner.internal",
    )
    result = proxied(chain, allow="127.0.0.1,10.0.0.0/8")
    assert (result["wsgi.url_scheme"], result["HTTP_HOST"]) == ("https", "example.com")
    # The edge proxy set one value and the inner one passed it on.
    single = environ(X_FORWARDED_FOR="203.0.113.7, 10.0.0.2", X_FORWARDED_PROTO="https")
    assert proxied(single, allow="127.0.0.1,10.0.0.0/8")["wsgi.url_scheme"] == "https"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X_FORWARDED_PROTO", "gopher"),
        ("X_FORWARDED_PROTO", "https http"),
        ("X_FORWARDED_HOST", "exa mple.com"),
        ("X_FORWARDED_HOST", "example.com/path"),
        ("X_FORWARDED_HOST", "user@example.com"),
        ("X_FORWARDED_PREFIX", "shop"),
        ("X_FORWARDED_PREFIX", "/a/../b"),
        ("X_FORWARDED_PREFIX", "/a?b"),
    ],
)
def test_a_value_that_does_not_parse_is_ignored(name: str, value: str) -> None:
    result = proxied(environ(**{name: value}))
    assert {key: result[key] for key in ("wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME")} == {
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "backend:8000",
        "SCRIPT_NAME": "",
    }


def test_forwarded_proto_overrides_a_tls_listeners_scheme_from_trusted_peers_only() -> None:
    assert proxied(environ(scheme="https", X_FORWARDED_PROTO="http"))["wsgi.url_scheme"] == "http"
    untrusted = environ("198.51.100.1", scheme="https", X_FORWARDED_PROTO="http")
    assert proxied(untrusted)["wsgi.url_scheme"] == "https"
    assert proxied(environ(scheme="https"))["wsgi.url_scheme"] == "https"


def test_the_prefix_is_decoded_and_goes_before_script_name() -> None:
    env = environ(X_FORWARDED_PREFIX="/caf%C3%A9/")
    env["SCRIPT_NAME"] = "/inner"
    assert proxied(env)["SCRIPT_NAME"] == "/caf\u00c3\u00a9/inner"  # bytes as latin-1, PEP 3333
    assert proxied(environ(X_FORWARDED_PREFIX="/"))["SCRIPT_NAME"] == ""


# --- RFC 7239 Forwarded ----------------------------------------------------------------------


def test_forwarded() -> None:
    env = environ(FORWARDED='for="[2001:db8::7]:4711";proto=https;host=example.com;by=_proxy')
    result = proxied(env)
    assert (result["REMOTE_ADDR"], result["REMOTE_PORT"]) == ("2001:db8::7", "4711")
    assert (result["wsgi.url_scheme"], result["HTTP_HOST"]) == ("https", "example.com")


def test_forwarded_chain_and_spoofed_elements() -> None:
    # The client wrote an element; our proxy appended the one with the address it saw.
    spoofed = environ(FORWARDED="for=6.6.6.6;proto=https, for=203.0.113.7;proto=http")
    result = proxied(spoofed)
    assert (result["REMOTE_ADDR"], result["wsgi.url_scheme"]) == ("203.0.113.7", "http")
    chain = environ(FORWARDED="for=203.0.113.7;proto=https;host=example.com, for=10.0.0.2")
    result = proxied(chain, allow="127.0.0.1,10.0.0.0/8")
    assert (result["REMOTE_ADDR"], result["wsgi.url_scheme"], result["HTTP_HOST"]) == (
        "203.0.113.7",
        "https",
        "example.com",
    )
    # An unterminated quote swallows what follows: one bad element, nothing believed.
    swallowing = environ(FORWARDED='for="6.6.6.6, for=203.0.113.7')
    assert proxied(swallowing) == UNCHANGED
    # An obfuscated or unknown client: its proxy's proto is still believed, not an address.
    hidden = proxied(environ(FORWARDED="for=_hidden;proto=https"))
    assert (hidden["REMOTE_ADDR"], hidden["wsgi.url_scheme"]) == ("127.0.0.1", "https")


def test_x_forwarded_wins_over_a_forwarded_that_a_client_sent_through() -> None:
    env = environ(X_FORWARDED_FOR="203.0.113.7", FORWARDED="for=6.6.6.6;proto=https")
    result = proxied(env)
    assert (result["REMOTE_ADDR"], result["wsgi.url_scheme"]) == ("203.0.113.7", "http")


@pytest.mark.parametrize(
    "value",
    [
        "for=1.2.3.4;for=5.6.7.8",  # a parameter twice
        "for",
        "for=1.2.3.4;proto=gopher",
        'for="1.2.3.4',
        "for=2001:db8::1",  # an IPv6 address must be quoted and bracketed
        "f or=1.2.3.4",
    ],
)
def test_a_malformed_forwarded_element_is_no_client(value: str) -> None:
    assert proxied(environ(FORWARDED=value))["REMOTE_ADDR"] == "127.0.0.1"


def test_parse_forwarded() -> None:
    value = 'for=1.2.3.4, for="[::1]";host="a.test:8080", for=unknown'
    hops = [forwarded.parse_element(text) for text in forwarded.forwarded_elements(value)]
    assert hops == [
        forwarded.Hop(forwarded.Node("1.2.3.4", None), None, None),
        forwarded.Hop(forwarded.Node("::1", None), None, "a.test:8080"),
        forwarded.Hop(None, None, None),
    ]
    assert forwarded.parse_element('host="a\\"b"') is None  # a host with a quote in it
    assert forwarded.forwarded_elements('for="a, b", for=c') == ['for="a, b"', " for=c"]


def test_a_long_chain_is_parsed_only_as_far_as_the_walk_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    real = forwarded.parse_node

    def counting(text: str) -> Any:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr("simplewsgi.middleware.proxy.parse_node", counting)
    padding = ", ".join(["6.6.6.6"] * 5000)
    result = proxied(environ(X_FORWARDED_FOR=f"{padding}, 203.0.113.7"))
    assert result["REMOTE_ADDR"] == "203.0.113.7" and parsed == ["203.0.113.7"]


# --- the trust list ----------------------------------------------------------------------------


def test_trust_list_values() -> None:
    assert normalize(" 10.0.0.0/8 , ::1,unix ") == "10.0.0.0/8,::1,unix"
    for bad in ("localhost", "10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "", " , "):
        with pytest.raises(TrustError, match=repr(bad).replace("[", r"\[")):
            TrustedPeers(bad)


# --- root path, and the order of the stack -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "script_name", "path_info"),
    [
        ("/app/users", "/app", "/users"),
        ("/app/", "/app", "/"),
        ("/app", "/app", ""),
        ("/users", "/app", "/users"),  # a proxy already took the prefix off
        ("/application", "/app", "/application"),  # whole segments only
    ],
)
def test_root_path(path: str, script_name: str, path_info: str) -> None:
    env = environ()
    env["PATH_INFO"] = path
    result = seen(RootPath(echo, "/app"), env)
    assert (result["SCRIPT_NAME"], result["PATH_INFO"]) == (script_name, path_info)


def test_the_stack_order_proxy_then_root_path_then_static_then_app(tmp_path: Path) -> None:
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "f.txt").write_bytes(b"file")
    options = ServeOptions(
        static=(f"/static={tmp_path / 'pub'}",), root_path="/app", proxy_headers=True
    )
    stack = wrap(echo, options)
    request = (
        b"GET /app/static/f.txt HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
        b"GET /app/users HTTP/1.1\r\nHost: b\r\nX-Forwarded-Prefix: /edge\r\n"
        b"X-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n",
    )
    file_reply, _ = run_in_memory(stack, request[0])
    assert file_reply.endswith(b"\r\n\r\nfile")  # static sees PATH_INFO without the root path
    app_reply, _ = run_in_memory(stack, request[1])
    body = json.loads(app_reply.partition(b"\r\n\r\n")[2])
    assert (body["SCRIPT_NAME"], body["PATH_INFO"], body["REMOTE_ADDR"]) == (
        "/edge/app",  # the proxy's prefix, then our own mount
        "/users",
        "203.0.113.7",
    )


def test_no_option_no_layer() -> None:
    assert wrap(echo, ServeOptions()) is echo
    assert wrap(echo, ServeOptions(root_path="/")) is echo


def test_plain_serving_loads_no_layer() -> None:
    code = (
        "import sys; from simplewsgi.run import build_server; "
        "from simplewsgi.middleware.stack import wrap; "
        "from simplewsgi.options import ServeOptions; "
        "from simplewsgi.http.server import demo_app; wrap(demo_app, ServeOptions()); "
        "print(sorted(m for m in sys.modules if m.startswith('simplewsgi.middleware.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['simplewsgi.middleware.stack']"


@pytest.mark.parametrize(
    "headers",
    [
        {"X_FORWARDED_FOR": "fe80::1%eth0"},
        {"X_FORWARDED_FOR": '::1%a, b; c="d" \u00e9'},
        {"FORWARDED": 'for="[::1%a, b; c=\\"d\\"]"'},
        {"FORWARDED": 'for="[fe80::1%25eth0]"'},
    ],
)
def test_an_address_with_a_zone_id_is_no_client(headers: dict[str, str]) -> None:
    """A zone id may hold any text; ipaddress takes it, REMOTE_ADDR and the log must not."""
    assert proxied(environ(**headers))["REMOTE_ADDR"] == "127.0.0.1"
    assert "fe80::1%eth0" not in TrustedPeers("fe80::/10")  # nor is it a trusted peer


def test_a_forwarded_host_with_a_port_past_65535_is_ignored() -> None:
    assert proxied(environ(X_FORWARDED_HOST="evil.com:99999"))["HTTP_HOST"] == "backend:8000"
    assert proxied(environ(X_FORWARDED_HOST="good.com:65535"))["HTTP_HOST"] == "good.com:65535"


def test_https_follows_the_forwarded_scheme() -> None:
    """wsgi.url_scheme and HTTPS agree (wsgiref.util.guess_scheme reads HTTPS)."""

    def https(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [f"{environ['wsgi.url_scheme']} {environ.get('HTTPS')}".encode()]

    layer = ProxyHeaders(https, TrustedPeers(DEFAULT))
    tls = environ(scheme="https", X_FORWARDED_PROTO="http")
    tls["HTTPS"] = "on"
    assert b"".join(layer(tls, lambda *args: None)) == b"http None"
    plain = environ(X_FORWARDED_PROTO="https")
    assert b"".join(layer(plain, lambda *args: None)) == b"https on"
