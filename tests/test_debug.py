"""In memory: who may read an error's details (``middleware.debugpeers``), the ``--debug``
page's escaping, folding and repr limits, and the terminal's folded tracebacks."""

from __future__ import annotations

from typing import Any

import pytest

from simplewsgi.middleware.debugpeers import DetailsPolicy, is_local
from simplewsgi.middleware.proxy import ProxyHeaders, TrustedPeers


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1", True),
        ("127.4.5.6", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("", True),  # a unix-socket peer
        ("192.0.2.7", False),
        ("::ffff:192.0.2.7", False),
        ("fd00::2", False),
        ("0.0.0.0", False),
        ("localhost", False),  # never a name: REMOTE_ADDR is an address
        ("127.0.0.1 ", False),
    ],
)
def test_is_local(address: str, local: bool) -> None:
    assert is_local(address) is local


def _through_proxy(environ: dict[str, Any], trusted: str = "127.0.0.1,::1,unix") -> dict[str, Any]:
    """``environ`` as the app sees it behind the proxy layer."""
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(env)
        return []

    ProxyHeaders(app, TrustedPeers(trusted))(environ, lambda *a: None)  # type: ignore[arg-type]
    return seen


def test_policy_from_the_peer_and_the_allow_list() -> None:
    default = DetailsPolicy()
    assert default.allows({"REMOTE_ADDR": "127.0.0.1"})
    assert default.allows({"REMOTE_ADDR": ""})
    assert default.allows({})  # no REMOTE_ADDR at all: what a unix-socket peer gets
    assert not default.allows({"REMOTE_ADDR": "192.0.2.7"})
    assert not default.allows({"REMOTE_ADDR": None})
    lan = DetailsPolicy("192.0.2.0/24, 2001:db8::/32")
    assert lan.allows({"REMOTE_ADDR": "192.0.2.7"})
    assert lan.allows({"REMOTE_ADDR": "2001:db8::5"})
    assert not lan.allows({"REMOTE_ADDR": "198.51.100.1"})
    assert DetailsPolicy("*").allows({"REMOTE_ADDR": "198.51.100.1"})


def test_policy_headers_only_take_details_away() -> None:
    policy = DetailsPolicy()
    # Without --proxy-headers: a local proxy (nginx on 127.0.0.1) forwarding anyone.
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP"):
        assert not policy.allows({"REMOTE_ADDR": "127.0.0.1", header: "127.0.0.1"})
    # With it: the peer and the client it found must both be allowed.
    forwarded_local = _through_proxy({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "::1"})
    assert policy.allows(forwarded_local)
    remote = _through_proxy({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
    assert remote["REMOTE_ADDR"] == "203.0.113.9" and not policy.allows(remote)
    assert DetailsPolicy("203.0.113.0/24").allows(remote)
    # A remote peer believed by '*' claims to be loopback: the peer decides.
    lie = _through_proxy({"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "127.0.0.1"}, "*")
    assert lie["REMOTE_ADDR"] == "127.0.0.1" and not policy.allows(lie)
    # A trusted proxy that names no client (for=unknown): nobody to show details to.
    unknown = _through_proxy({"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=unknown"})
    assert not policy.allows(unknown)


def test_reload_error_page_is_plain_for_remote_clients() -> None:
    from simplewsgi.reload.failure import error_app
    from simplewsgi.reload.messages import FailureReport

    report = FailureReport(
        message="SyntaxError: x", filename="/srv/app.py", lineno=3, line="x = (", details="tb"
    )
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.append((status, headers))

    app = error_app(report)
    remote = b"".join(app({"REMOTE_ADDR": "192.0.2.7", "HTTP_ACCEPT": "text/html"}, start_response))
    assert b"app.py" not in remote and b"SyntaxError" not in remote
    assert seen[-1][0].startswith("500") and ("Content-Type", "text/plain") in seen[-1][1]
    local = b"".join(app({"REMOTE_ADDR": "::1"}, start_response))
    assert b"SyntaxError: x" in local
    allowed = error_app(report, "192.0.2.0/24")
    assert b"SyntaxError: x" in b"".join(allowed({"REMOTE_ADDR": "192.0.2.7"}, start_response))
