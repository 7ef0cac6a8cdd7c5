"""A real browser on a Flask app served by the real command: headless Chromium (tests/browser.py)
loads a form, types into it, submits it, follows the 303 to the result page, and the test reads
that page's DOM. The screenshot stays in test-artifacts/compat-flask-form.png."""

from __future__ import annotations

from typing import Callable

import pytest

from tests.browser import Browser
from tests.commandline import Server

pytest.importorskip("flask", reason="Flask is not installed (pip install -e '.[compat]')")
pytestmark = pytest.mark.compat


def test_form_submit_and_redirect_in_chromium(
    browser: Browser, serve_app: Callable[..., Server]
) -> None:
    server = serve_app("flaskapp:app")
    browser.get(server.url + "/form")
    browser.wait(lambda: browser.run("return document.title") == "Sign the guest book")
    browser.type("#name", "Zoë <Ann>")
    browser.click("#send")
    greeting = browser.wait_text("Hello, Zoë <Ann>!", "#greeting")
    assert greeting == "Hello, Zoë <Ann>!"
    assert browser.url == server.url + "/greet?name=Zo%C3%AB+%3CAnn%3E"
    assert browser.run("return document.querySelectorAll('#greeting b, script').length") == 0
    assert browser.screenshot("compat-flask-form").stat().st_size > 1000
    log = server.plain
    assert "POST /form HTTP/1.1 303" in log and "GET /greet?name=" in log
