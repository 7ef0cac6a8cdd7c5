"""Flask under ``serve --reload``: an edited view, and a Jinja template watched through
``--reload-include``, are served by the next request once reloaded; a syntax error in the view
keeps the last good version serving until the file is fixed."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import pytest

from tests.helpers import wait_for
from tests.test_reloader import RELOADED_RE, Server, serve, write

__all__ = ["serve"]  # test_reloader's fixture: servers in tmp_path, killed after

pytest.importorskip("flask", reason="Flask is not installed (pip install -e '.[compat]')")
pytestmark = pytest.mark.compat

VIEW = """\
from flask import Flask, render_template

app = Flask(__name__)


@app.route("/")
def index():
    return {body!r}


@app.route("/page")
def page():
    return render_template("page.html", who="reloaded flask")
"""
TEMPLATE = "<p>{version} for {{{{ who }}}}</p>"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "app.py", VIEW.format(body="view one"))
    write(tmp_path / "templates" / "page.html", TEMPLATE.format(version="template one"))
    return tmp_path


def body(server: Server, path: str) -> str:
    status, _, text = server.get(path)
    assert status == 200, text
    return text


def test_an_edited_view_is_served_next(project: Path, serve: Callable[..., Server]) -> None:
    server = serve("app:app")
    assert body(server, "/") == "view one"
    write(project / "app.py", VIEW.format(body="view two"))
    server.wait_body("view two")
    assert server.wait_line(RELOADED_RE).group(2) == "app.py"
    assert body(server, "/page") == "<p>template one for reloaded flask</p>"


def test_a_template_through_reload_include(project: Path, serve: Callable[..., Server]) -> None:
    server = serve("app:app", "--reload-include", "*.html")
    assert body(server, "/page") == "<p>template one for reloaded flask</p>"
    write(project / "templates" / "page.html", TEMPLATE.format(version="template two"))
    wanted = "<p>template two for reloaded flask</p>"
    wait_for(lambda: body(server, "/page") == wanted, what="the new template served")
    assert server.wait_line(RELOADED_RE).group(2) == os.path.join("templates", "page.html")


def test_a_syntax_error_keeps_the_last_good_view(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve("app:app")
    assert body(server, "/") == "view one"
    broken = VIEW.format(body="view two").replace("def index():", "def index(:")
    write(project / "app.py", broken)
    error = server.wait_line(re.compile(r"Error: app\.py:(\d+): SyntaxError: .*"))
    assert "still serving the previous version" in error.group(0)
    assert body(server, "/") == "view one"
    write(project / "app.py", VIEW.format(body="view three"))
    server.wait_body("view three")
