"""In memory: who may read an error's details (``middleware.debugpeers``), the ``--debug``
page's escaping, folding and repr limits, and the terminal's folded tracebacks."""

from __future__ import annotations

import html
import re
import shlex
import subprocess
import sys
from typing import Any

import pytest

from simplewsgi.middleware.debugpeers import DetailsPolicy, is_local
from simplewsgi.middleware.proxy import ProxyHeaders, TrustedPeers
from tests.commandline import cli_env


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
    assert not default.allows({})  # no REMOTE_ADDR at all: a peer we know nothing of
    assert not default.allows({"REMOTE_ADDR": "192.0.2.7"})
    assert not default.allows({"REMOTE_ADDR": None})
    lan = DetailsPolicy("192.0.2.0/24, 2001:db8::/32")
    assert lan.allows({"REMOTE_ADDR": "192.0.2.7"})
    assert lan.allows({"REMOTE_ADDR": "2001:db8::5"})
    assert not lan.allows({"REMOTE_ADDR": "198.51.100.1"})
    assert DetailsPolicy("*").allows({"REMOTE_ADDR": "198.51.100.1"})


def test_policy_wants_a_host_that_names_this_machine() -> None:
    """DNS rebinding: a page on an attacker's name resolved to 127.0.0.1 is a loopback peer
    of the same origin as the details; its Host gives it away."""
    import socket

    policy = DetailsPolicy("192.0.2.0/24")
    local = {"REMOTE_ADDR": "127.0.0.1"}
    machine = socket.gethostname()
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost", "LOCALHOST.",
                 "192.0.2.5:80", machine, f"{machine}.local:8000", None):  # fmt: skip
        assert policy.allows({**local, "HTTP_HOST": host} if host else local), host
    for host in ("evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example", "",
                 "[evil]:80", "localhost:80:80"):  # fmt: skip
        assert not policy.allows({**local, "HTTP_HOST": host}), host
        assert not policy.allows({"REMOTE_ADDR": "192.0.2.7", "HTTP_HOST": host}), host


def test_policy_headers_only_take_details_away() -> None:
    policy = DetailsPolicy()
    # Without --proxy-headers: a local proxy (nginx on 127.0.0.1) forwarding anyone.
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_VIA"):
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


# --- the --debug layer and its page, in memory ---------------------------------------------

HOSTILE = "<script>alert(1)</script>"


class _Response:
    """A start_response that behaves like the server's: exc_info re-raises once sent."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.sent = False

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and self.sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, headers
        return lambda data: None

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key == name)


def _environ(**extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/items/7?q=" + HOSTILE,
        "PATH_INFO": "/items/7",
        "QUERY_STRING": "q=" + HOSTILE,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT": "text/html",
        "HTTP_X_EVIL": HOSTILE,
        "HTTP_COOKIE": "session=s3cr3t-cookie; theme=dark",
        "HTTP_AUTHORIZATION": "Bearer t0ken-value",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "12",
        "wsgi.errors": __import__("io").StringIO(),
    }
    environ.update(extra)
    return environ


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class NotAString:
    def __repr__(self) -> Any:
        return 42


def hostile_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    title = HOSTILE  # noqa: F841 - shown as a local variable
    huge = "x" * 1_000_000  # noqa: F841
    many = list(range(100_000))  # noqa: F841
    broken = Unprintable()  # noqa: F841
    odd = NotAString()  # noqa: F841
    token = environ["HTTP_AUTHORIZATION"]  # noqa: F841
    raise ValueError(HOSTILE)


def _debug_page(app: Any, **extra: Any) -> tuple[_Response, str]:
    from simplewsgi.middleware.debug import DebugErrors

    response = _Response()
    body = b"".join(DebugErrors(app)(_environ(**extra), response))
    return response, body.decode()


def test_debug_page_escapes_everything() -> None:
    response, page = _debug_page(hostile_app)
    assert response.status.startswith("500")
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert "script-src" not in response.header("Content-Security-Policy")  # none allowed
    assert response.header("Content-Security-Policy").startswith("default-src 'none'")
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # message, local, query, header
    assert "hostile_app" in page and 'details class="app" open' in page


def test_debug_page_reprs_are_bounded_and_never_break_it() -> None:
    from simplewsgi.middleware.debugcapture import REPR_MAX

    _, page = _debug_page(hostile_app)
    locals_ = dict(re.findall(r"<tr><th>(\w+)</th><td><code>(.*?)</code></td></tr>", page))
    assert locals_["broken"] == "&lt;repr() raised RuntimeError&gt;"
    assert locals_["odd"] == "&lt;repr() raised TypeError&gt;"  # __repr__ returned an int
    for name in ("huge", "many"):
        assert len(html.unescape(locals_[name])) <= REPR_MAX, name
    assert locals_["many"].startswith("[0, 1, 2") and "..." in locals_["many"]


def test_debug_page_masks_cookies_and_authorization_everywhere() -> None:
    _, page = _debug_page(hostile_app)
    for secret in ("s3cr3t-cookie", "t0ken-value"):
        assert secret not in page, secret  # headers, curl, and the app's own environ local
    assert "session=[masked]; theme=[masked]" in page and "Bearer [masked]" in page
    curl = html.unescape(re.search(r'<pre class="curl">\s*(.*?)</pre>', page, re.S).group(1))  # type: ignore[union-attr]
    words = shlex.split(curl)
    assert words[:4] == ["curl", "-i", "-X", "POST"]
    assert words[4] == "http://127.0.0.1:8000/items/7?q=" + HOSTILE
    assert "Authorization: Bearer [masked]" in words and "Host: 127.0.0.1:8000" not in words
    assert "The request's body (12 bytes) is not in the command." in page


def test_debug_page_plain_text_for_other_clients_and_plain_500_for_remote() -> None:
    response, text = _debug_page(hostile_app, HTTP_ACCEPT="*/*")
    assert response.header("Content-Type") == "text/plain; charset=utf-8"
    assert text.startswith("Traceback (most recent call last):")
    assert f"ValueError: {HOSTILE}" in text and "in hostile_app\n    raise ValueError" in text
    response, remote = _debug_page(hostile_app, REMOTE_ADDR="192.0.2.7")
    assert remote == "A server error occurred.  Please contact the administrator."
    assert response.header("Content-Type") == "text/plain"


def test_debug_layer_after_headers_went_out_lets_the_server_cut() -> None:
    from simplewsgi.middleware.debug import DebugErrors

    def streaming(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first block"
        raise ValueError("late")

    response = _Response()
    blocks = iter(DebugErrors(streaming)(_environ(), response))
    assert next(blocks) == b"first block"
    response.sent = True
    with pytest.raises(ValueError, match="late"):
        next(blocks)

    # Before the first block: the page replaces the response.
    def early(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        raise ValueError("early")

    response = _Response()
    page = b"".join(DebugErrors(early)(_environ(), response))
    assert response.status.startswith("500") and b"ValueError: early" in page


def test_editor_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMPLEWSGI_EDITOR_URL", "vscode://file/{path}:{line}")
    _, page = _debug_page(hostile_app)
    here = __file__.replace(" ", "%20")
    assert f'<a href="vscode://file/{here}:' in page
    monkeypatch.setenv("SIMPLEWSGI_EDITOR_URL", "JavaScript:alert(1)//{path}")
    _, page = _debug_page(hostile_app)
    assert "<a href" not in page


def test_deep_recursion_is_bounded() -> None:
    from simplewsgi.middleware.debugcapture import FRAMES_HEAD, FRAMES_MAX, capture

    def down(n: int) -> None:
        if n == 0:
            raise RecursionError("deep")
        down(n - 1)

    try:
        down(500)
    except RecursionError as error:
        frames = capture(error)["chain"][-1]["frames"]
    assert len(frames) == FRAMES_MAX + 1 and frames[FRAMES_HEAD]["skipped"] > 400
    assert frames[-1]["function"] == "down" and "raise RecursionError" in str(frames[-1]["source"])


# --- folding simplewsgi's frames in the terminal -------------------------------------------


def _raised_through_simplewsgi() -> BaseException:
    """An exception whose traceback runs test -> simplewsgi -> test."""
    from simplewsgi.middleware.debugpeers import plain_500

    def start_response(*args: Any) -> None:
        raise KeyError("from the app")

    try:
        plain_500(start_response)  # type: ignore[arg-type]
    except KeyError as error:
        return error
    raise AssertionError("not raised")


def test_frame_kinds() -> None:
    import os

    import simplewsgi.run
    from simplewsgi.tracebacks import APP, SERVER, STDLIB, frame_kind

    assert frame_kind(simplewsgi.run.__file__) == SERVER
    assert frame_kind(os.__file__) == STDLIB
    assert frame_kind("<frozen importlib._bootstrap>") == STDLIB
    assert frame_kind(__file__) == APP
    assert frame_kind("<string>") == APP


def test_terminal_traceback_folds_simplewsgi_frames() -> None:
    import traceback

    from simplewsgi.tracebacks import PACKAGE_DIR, format_exception

    error = _raised_through_simplewsgi()
    folded = format_exception(error)
    assert "  [1 frame of simplewsgi hidden; --debug shows all]\n" in folded
    assert PACKAGE_DIR not in folded
    assert "in _raised_through_simplewsgi" in folded and "in start_response" in folded
    assert folded.endswith("KeyError: 'from the app'\n")
    whole = format_exception(error, fold=False)
    assert whole == "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert PACKAGE_DIR in whole


def test_terminal_traceback_keeps_chains() -> None:
    from simplewsgi.tracebacks import CAUSE, CONTEXT, format_exception

    try:
        try:
            raise OSError("first")
        except OSError:
            try:
                raise _raised_through_simplewsgi()
            except KeyError as error:
                raise ValueError("last") from error
    except ValueError as error:
        text = format_exception(error)
    assert text.index("OSError: first") < text.index(CONTEXT) < text.index("KeyError")
    assert text.index("KeyError") < text.index(CAUSE) < text.index("ValueError: last")
    assert "hidden" in text


def test_plain_serving_does_not_import_the_debug_modules() -> None:
    code = (
        "import sys\n"
        "from simplewsgi.cli import main\n"
        "from simplewsgi import run\n"
        "from simplewsgi.options import ServeOptions\n"
        "from simplewsgi.middleware.stack import wrap\n"
        "from simplewsgi.http.server import demo_app\n"
        "wrap(demo_app, ServeOptions())\n"
        "print(sorted(m for m in sys.modules if 'debug' in m or m.endswith('tracebacks')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- from an attacker's review of --debug -------------------------------------------------------


def test_a_traceback_never_sends_the_terminal_its_control_characters() -> None:
    """A message may quote the request; the terminal must not obey what it holds."""
    from simplewsgi.tracebacks import format_exception

    try:
        raise ValueError("bad path /x\x1b]0;PWNED\x07\x1b[2J\tend\x9b")
    except ValueError as error:
        for fold in (True, False):
            text = format_exception(error, fold=fold)
            assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
            assert "bad path /x\\x1b]0;PWNED\\x07\\x1b[2J\tend\\x9b\n" in text
            assert text.count("\n") > 2  # the lines stay lines


def test_basic_credentials_the_app_decodes_are_masked_too() -> None:
    import base64

    password = "".join(["hun", "ter2pw"])  # never whole in this file: the page shows its source
    basic = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()

    def decodes(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        creds = base64.b64decode(environ["HTTP_AUTHORIZATION"].split()[1]).decode()
        user = creds.partition(":")[0]  # noqa: F841 - shown as locals
        secret = creds.partition(":")[2]  # noqa: F841
        raise PermissionError("no")

    _, page = _debug_page(decodes, HTTP_AUTHORIZATION=basic)
    assert password not in page
    assert "alice" in html.unescape(page)  # the user name alone is not a secret


def test_an_iterable_whose_iter_raises_gets_the_page() -> None:
    class Broken:
        def __iter__(self) -> Any:
            raise RuntimeError("iter failed")

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Broken()

    response, page = _debug_page(app)
    assert response.status.startswith("500") and "RuntimeError: iter failed" in page


@pytest.mark.parametrize(
    "template", ["java\tscript:alert(1)//{path}", "\x01javascript:x{path}", "java\nscript:x{path}"]
)
def test_an_editor_template_with_control_characters_is_ignored(
    monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    """Browsers drop tabs and line breaks inside a URL: java<TAB>script: is javascript:."""
    monkeypatch.setenv("SIMPLEWSGI_EDITOR_URL", template)
    _, page = _debug_page(hostile_app)
    assert "<a href" not in page


def test_a_huge_bytes_local_is_cut_before_its_repr_is_made() -> None:
    import tracemalloc

    from simplewsgi.middleware.debugcapture import REPR_MAX, safe_repr

    data = bytes(8_000_000)
    tracemalloc.start()
    try:
        text = safe_repr(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(text) <= REPR_MAX and text.startswith("b'\\x00")
    assert peak < 1_000_000, f"{peak} bytes to show {REPR_MAX} characters"
