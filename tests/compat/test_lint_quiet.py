"""``--lint`` in front of each framework's app: the requests of the compatibility suite (a
route, a POST by length and chunked, a file, a stream, cookies, a redirect, an error, HEAD) draw
no warning, so the checker does not cry wolf at the frameworks people use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.commandline import Server
from tests.compat.conftest import APPS, Client
from tests.helpers import wait_for

pytestmark = pytest.mark.compat

LOGGED = re.compile(r" HTTP/1\.1 \d{3} ")  # an access-log line
Request = tuple[str, str, Optional[object]]
ROUTES: dict[str, list[Request]] = {
    "flask": [
        ("GET", "/", None), ("GET", "/h%C3%A9llo/x?q=1", None), ("POST", "/form", "name=a"),
        ("GET", "/cookies", None), ("GET", "/old", None), ("GET", "/file", None),
        ("HEAD", "/file", None), ("POST", "/chunked", [b"ab", b"cd"]),
        ("POST", "/ignore", b"x" * 5000), ("GET", "/boom", None), ("GET", "/nowhere", None),
    ],
    "django": [
        ("GET", "/", None), ("GET", "/admin/login/", None), ("GET", "/file/", None),
        ("GET", "/stream/?n=3", None), ("POST", "/echo/", b"abc"), ("POST", "/echo/", [b"ab"]),
        ("GET", "/boom/", None), ("GET", "/nowhere/", None),
    ],
    **{
        name: [
            ("GET", "/hello/x", None), ("POST", "/echo", b"abc"), ("POST", "/echo", [b"ab"]),
            ("HEAD", "/hello/x", None), ("GET", "/boom", None), ("GET", "/nowhere", None),
        ]
        for name in ("bottle", "falcon", "pyramid")
    },
}  # fmt: skip


@pytest.mark.parametrize("framework", list(ROUTES))
def test_lint_is_quiet(
    framework: str,
    serve_app: Callable[..., Server],
    client: Callable[[Server], Client],
    tmp_path: Path,
) -> None:
    pytest.importorskip(
        framework, reason=f"{framework} is not installed (pip install -e '.[compat]')"
    )
    (tmp_path / "blob.bin").write_bytes(b"0123456789" * 1000)
    env = {"COMPAT_FILE": str(tmp_path / "blob.bin")}
    if framework == "django":
        env.update(DJANGO_SETTINGS_MODULE="mysite.settings")
        server = serve_app("mysite.wsgi", "--lint", cwd=APPS / "mysite", **env)
    else:
        server = serve_app(f"{framework}app:app", "--lint", **env)
    conn = client(server)
    for method, path, body in ROUTES[framework]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if path == "/form" else {}
        sent = iter(body) if isinstance(body, list) else body
        status = conn.request(method, path, sent, headers).status
        assert status in (200, 302, 303, 400, 404, 405, 500), (method, path, status)
    count = len(ROUTES[framework])
    wait_for(lambda: len(LOGGED.findall(server.plain)) >= count, what=f"{count} access-log lines")
    assert "Warning: lint" not in server.plain, server.plain
