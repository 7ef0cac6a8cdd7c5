"""Django served by the real command as ``simplewsgi serve mysite.wsgi`` (the module alone: its
callable is ``application``): the admin's login through a CSRF cookie round trip, a failed and
a good login, the admin under ``--root-path`` and its stylesheets through ``--static``,
FileResponse by sendfile, StreamingHttpResponse, a chunked body, 404 and 500."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Callable

import pytest

from tests.commandline import REPO, Server, cli_env
from tests.compat.conftest import APPS, Client, Reply, files_closed_after_use, sendfile_spy

pytest.importorskip("django", reason="Django is not installed (pip install -e '.[compat]')")
pytestmark = pytest.mark.compat

PROJECT = APPS / "mysite"
SETUP = """\
import django
django.setup()
from django.core.management import call_command
from django.contrib.auth.models import User
call_command("migrate", verbosity=0, interactive=False)
User.objects.create_superuser("admin", "admin@example.com", "correct horse")
"""
LOGIN = "/admin/login/?next=/admin/"
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

Serve = Callable[..., Server]
Connect = Callable[[Server], Client]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database with a superuser, made once per module (and xdist worker)."""
    path = str(tmp_path_factory.mktemp("django") / "db.sqlite3")
    env = cli_env(DJANGO_SETTINGS_MODULE="mysite.settings", COMPAT_DJANGO_DB=path)
    done = subprocess.run(
        [sys.executable, "-c", SETUP], cwd=PROJECT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def django_env(database: str) -> dict[str, str]:
    return {"DJANGO_SETTINGS_MODULE": "mysite.settings", "COMPAT_DJANGO_DB": database}


@pytest.fixture
def django_server(serve_app: Serve, django_env: dict[str, str]) -> Server:
    return serve_app("mysite.wsgi", cwd=PROJECT, **django_env)


def cookies_of(reply: Reply) -> dict[str, str]:
    return dict(cookie.split(";")[0].split("=", 1) for cookie in reply.all("Set-Cookie"))


def login(conn: Client, cookies: dict[str, str], token: str, password: str) -> Reply:
    form = {"csrfmiddlewaretoken": token, "username": "admin", "password": password}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return conn.post(LOGIN, urllib.parse.urlencode(form), headers)


@pytest.mark.parametrize("spec", ["mysite.wsgi", "mysite/wsgi.py", "mysite.wsgi:application"])
def test_the_app_string_forms(
    serve_app: Serve, client: Connect, django_env: dict[str, str], spec: str
) -> None:
    """The module alone finds Django's ``application``; the file form imports it as
    ``mysite.wsgi`` (the package climbed), so its settings import."""
    server = serve_app(spec, cwd=PROJECT, **django_env)
    reply = client(server).get("/?name=" + urllib.parse.quote("Jürgen"))
    assert (reply.status, reply.text) == (200, "django says hello to Jürgen")
    assert f"serving {spec}" in server.plain


def test_admin_login_through_the_csrf_cookie(django_server: Server, client: Connect) -> None:
    conn = client(django_server)
    page = conn.get(LOGIN)
    assert page.status == 200
    cookies = cookies_of(page)
    match = TOKEN_RE.search(page.text)
    assert "csrftoken" in cookies and match, page.headers
    token = match.group(1)

    refused = login(conn, {}, token, "correct horse")  # no cookie: CSRF refuses
    assert refused.status == 403 and "CSRF" in refused.text

    failed = login(conn, cookies, token, "wrong")
    assert failed.status == 200
    assert "Please enter the correct username and password" in failed.text
    assert "sessionid" not in cookies_of(failed)

    good = login(conn, cookies, token, "correct horse")
    assert (good.status, good.header("Location")) == (302, "/admin/")
    cookies.update(cookies_of(good))  # the session, and the token Django rotates at login
    assert "sessionid" in cookies
    jar = "; ".join(f"{name}={value}" for name, value in cookies.items())
    admin = conn.get("/admin/", {"Cookie": jar})
    assert admin.status == 200 and "Site administration" in admin.text


def test_admin_under_a_root_path(
    serve_app: Serve, client: Connect, django_env: dict[str, str]
) -> None:
    """``--root-path /app``: Django builds its URLs from SCRIPT_NAME, so the admin's redirect
    and its form point under /app."""
    server = serve_app("mysite.wsgi", "--root-path", "/app", cwd=PROJECT, **django_env)
    conn = client(server)
    redirect = conn.get("/app/admin/")
    assert (redirect.status, redirect.header("Location")) == (
        302,
        LOGIN.replace("/admin", "/app/admin"),
    )
    page = conn.get(redirect.header("Location") or "")
    assert page.status == 200
    assert 'action="/app/admin/login/?next=/app/admin/"' in page.text


def test_admin_stylesheets_through_static(
    serve_app: Serve, client: Connect, django_env: dict[str, str]
) -> None:
    """Django serves no static files itself without DEBUG (runserver does): ``--static`` in
    front of the app serves the admin's, where its pages link them."""
    spec = importlib.util.find_spec("django")
    assert spec is not None and spec.submodule_search_locations
    admin = Path(spec.submodule_search_locations[0], "contrib", "admin", "static", "admin")
    server = serve_app(
        "mysite.wsgi", "--static", f"/static/admin={admin}", cwd=PROJECT, **django_env
    )
    conn = client(server)
    page = conn.get(LOGIN)
    assert page.status == 200 and 'href="/static/admin/css/base.css"' in page.text
    css = conn.get("/static/admin/css/base.css")
    assert (css.status, css.header("Content-Type")) == (200, "text/css; charset=utf-8")
    assert css.body == (admin / "css" / "base.css").read_bytes()


def test_file_response_goes_out_by_sendfile(
    serve_app: Serve, client: Connect, django_env: dict[str, str], tmp_path: Path
) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    (tmp_path / "blob.bin").write_bytes(data)
    env, log = sendfile_spy(tmp_path, str(REPO))
    server = serve_app(
        "mysite.wsgi", cwd=PROJECT, COMPAT_FILE=str(tmp_path / "blob.bin"), **django_env, **env
    )
    conn = client(server)
    reply = conn.get("/file/")
    assert reply.status == 200
    assert reply.header("Content-Length") == str(len(data))
    assert reply.header("Content-Disposition") == 'inline; filename="blob.bin"'
    assert reply.body == data
    assert log.read_text().split("\n") == [f"0 {len(data)}", ""]
    assert conn.get("/").status == 200


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_file_response_closes_the_file(
    serve_app: Serve, django_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    server = serve_app(
        "mysite.wsgi", cwd=PROJECT, COMPAT_FILE=str(tmp_path / "big.bin"), **django_env
    )
    files_closed_after_use(server, "/file/", tmp_path / "big.bin")


def test_streaming_http_response(django_server: Server, client: Connect) -> None:
    conn = client(django_server)
    reply = conn.get("/stream/?n=500")
    assert reply.status == 200
    assert reply.header("Transfer-Encoding") == "chunked"
    assert reply.text == "".join(f"part {n}\n" for n in range(500))
    assert conn.post("/echo/", b"abc\x00def").body == b"fed\x00cba"


def test_a_chunked_body_reads_empty_and_the_connection_stays_in_step(
    django_server: Server, client: Connect
) -> None:
    """Django's limitation, not ours: WSGIRequest reads a body by CONTENT_LENGTH alone, so a
    chunked one reads as empty (Django ticket #35838; this fails the day Django reads it). The
    server drains what the app left unread, so the next request on the connection is parsed
    from its own first byte."""
    conn = client(django_server)
    reply = conn.post("/echo/", iter([b"GET /boom/ HTTP/1.1\r\nHost: x\r\n\r\n"] * 100))
    assert (reply.status, reply.body) == (200, b"")
    assert conn.get("/?name=next").text == "django says hello to next"


def test_not_found_and_an_error(django_server: Server, client: Connect) -> None:
    conn = client(django_server)
    assert conn.get("/nowhere/").status == 404
    assert conn.get("/boom/").status == 500
    django_server.wait_for(r"Traceback(.|\n)*LookupError: django boom")
    assert conn.get("/").status == 200


def test_a_wrong_settings_module_is_reported(launch: Callable[..., Server]) -> None:
    """A DJANGO_SETTINGS_MODULE that does not import: the app cannot load, exit status 3."""
    server = launch(
        "serve", "mysite.wsgi", "-p", "0", cwd=PROJECT, DJANGO_SETTINGS_MODULE="nosuch.settings"
    )
    assert server.wait() == 3
    assert "ModuleNotFoundError: No module named 'nosuch'" in server.plain
