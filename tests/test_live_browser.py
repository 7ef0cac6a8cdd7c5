"""``--live`` in a real browser: headless Chromium (tests/browser.py) on pages served by the real
command; files edited on disk, the page watched with no action taken in the browser.
Screenshots of each state are kept in test-artifacts/ (live-*.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tests.browser import Browser
from tests.commandline import Server, write

PAGE = """\
import os

STYLE = '<link rel="stylesheet" href="/static/style.css">'


def app(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise ValueError("the {word} went boom")
    body = (
        "<!DOCTYPE html><html><head><title>live</title>" + STYLE + "</head><body>"
        '<h1 id="msg">Hello {word}</h1><p id="pid">' + str(os.getpid()) + "</p></body></html>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""
RED, BLUE = "rgb(200, 0, 0)", "rgb(0, 0, 200)"


def project(root: Path, word: str = "v1") -> None:
    write(root / "static" / "style.css", f"h1 {{ color: {RED}; }}\n")
    edit_app(root, word)


def edit_app(root: Path, word: str) -> None:
    write(root / "app.py", PAGE.replace("{word}", word))


def start(launch: Callable[..., Server], *extra: str) -> Server:
    server = launch("serve", "app:app", "--live", "--static", "/static=static", "-p", "0",
                    "--no-keys", *extra)  # fmt: skip
    server.wait_for(r"Live:")
    return server


def open_page(browser: Browser, url: str, text: str = "Hello v1") -> None:
    """Load ``url`` and wait until its page follows the event stream: a change made before
    that is (rightly) caught up with by a reload, which is not what these tests watch."""
    browser.get(url)
    browser.wait_text(text)
    follows_its_stream(browser)


def follows_its_stream(browser: Browser) -> None:
    """Wait until the page's script has heard its stream's hello."""
    browser.wait(lambda: browser.run("return window.__simplewsgiLive") == "connected")


def color(browser: Browser) -> str:
    return str(browser.run("return getComputedStyle(document.querySelector('h1')).color"))


def error_frame_text(browser: Browser) -> str:
    """The text of the error page shown over the page (a sandboxed frame), '' while none."""
    if not browser.run("return !!document.getElementById('simplewsgi-live-error')"):
        return ""
    return browser.frame_text("#simplewsgi-live-error")


def test_an_edit_to_the_code_shows_in_the_page_with_no_action(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    project(tmp_path)
    server = start(launch)
    open_page(browser, server.url + "/")
    first_pid = browser.text("#pid")
    browser.screenshot("live-1-page")
    edit_app(tmp_path, "v2")
    browser.wait_text("Hello v2", "#msg")
    assert browser.text("#pid") != first_pid  # a new worker served it
    server.wait_for(r"reloaded in \d+ ms \(changed: app\.py\)")
    browser.screenshot("live-2-after-editing-app-py")


def test_a_stylesheet_is_swapped_in_place_without_reloading(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    project(tmp_path)
    server = start(launch)
    open_page(browser, server.url + "/")
    browser.wait(lambda: color(browser) == RED, what="the first stylesheet")
    browser.run("window.notReloaded = 42")
    pid = browser.text("#pid")
    write(tmp_path / "static" / "style.css", f"h1 {{ color: {BLUE}; }}\n")
    browser.wait(lambda: color(browser) == BLUE, what="the new stylesheet")
    assert browser.run("return window.notReloaded") == 42  # swapped, not reloaded
    assert browser.text("#pid") == pid
    server.wait_for(r"swapped stylesheets in open pages \(changed: static/style\.css\)")
    assert "reloaded in" not in server.plain  # the app was not restarted
    browser.screenshot("live-3-stylesheet-swapped")


def test_a_failed_reload_shows_the_error_page_until_the_fix_reloads_the_page(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    project(tmp_path)
    server = start(launch)
    open_page(browser, server.url + "/")
    write(tmp_path / "app.py", PAGE.replace("{word}", "v1") + "\ndef broken(:\n")
    text = browser.wait(lambda: error_frame_text(browser), what="the error page over the page")
    assert "The app could not be loaded" in text and "SyntaxError" in text, text
    assert "app.py:" in text
    browser.screenshot("live-4-failed-reload-error-page")
    edit_app(tmp_path, "v3")
    browser.wait_text("Hello v3", "#msg")
    assert not browser.run("return !!document.getElementById('simplewsgi-live-error')")
    browser.screenshot("live-5-fixed")
    assert "still serving the previous version" in server.plain


def test_a_page_of_a_broken_start_refreshes_when_the_code_is_fixed(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    project(tmp_path)
    write(tmp_path / "app.py", "import missing_module_for_the_test\n")
    server = start(launch)
    open_page(browser, server.url + "/", "could not be loaded")
    text = browser.text()
    assert "missing_module_for_the_test" in text
    browser.screenshot("live-6-broken-at-start")
    edit_app(tmp_path, "v4")
    browser.wait_text("Hello v4", "#msg")
    server.wait_for("reloaded in")


def test_the_debug_page_refreshes_once_the_code_is_fixed(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    project(tmp_path, "v5")
    server = start(launch, "--debug")
    open_page(browser, server.url + "/boom", "ValueError")
    text = browser.text()
    assert "the v5 went boom" in text
    browser.screenshot("live-7-debug-page")
    # The fix: /boom no longer raises. The page, a --debug page whose policy forbids every
    # script but ours, reloads by itself.
    write(tmp_path / "app.py", PAGE.replace("{word}", "v6").replace('"/boom"', '"/never"'))
    browser.wait_text("Hello v6", "#msg")
    server.wait_for("reloaded in")


def test_many_tabs_share_one_stream_and_all_refresh(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    """Eight tabs: with a stream per tab the browser's six connections per host would be
    taken, and the seventh tab would never load."""
    project(tmp_path)
    server = start(launch)
    handles = [str(browser.call("GET", "/window"))]
    handles += [
        str(browser.call("POST", "/window/new", {"type": "tab"})["handle"]) for _ in range(7)
    ]
    for handle in handles:
        browser.call("POST", "/window", {"handle": handle})
        open_page(browser, server.url + "/")
    edit_app(tmp_path, "v7")
    for handle in handles:
        browser.call("POST", "/window", {"handle": handle})
        browser.wait_text("Hello v7", "#msg")
    assert browser.run("return typeof SharedWorker") == "function"


def test_a_browser_without_shared_workers_follows_one_stream_per_tab(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    """Where SharedWorker is missing (Chrome on Android, older Safari) each page follows the
    stream itself; here the pages are given no SharedWorker before any of their scripts run."""
    browser.call("POST", "/goog/cdp/execute", {
        "cmd": "Page.addScriptToEvaluateOnNewDocument",
        "params": {"source": "delete window.SharedWorker;"},
    })  # fmt: skip
    project(tmp_path)
    server = start(launch)
    open_page(browser, server.url + "/")
    assert browser.run("return typeof SharedWorker") == "undefined"
    edit_app(tmp_path, "v8")
    browser.wait_text("Hello v8", "#msg")
    follows_its_stream(browser)
    write(tmp_path / "static" / "style.css", f"h1 {{ color: {BLUE}; }}\n")
    browser.wait(lambda: color(browser) == BLUE, what="the new stylesheet")


def test_a_change_made_while_the_page_loaded_is_caught_up_with(
    browser: Browser, launch: Callable[..., Server], tmp_path: Path
) -> None:
    """The page was rendered before a change whose event it could not hear yet (its stream
    was not open): the stream's hello says how many changes there were, and the page
    reloads. The stream is held back here (one per page, without SharedWorker) until the
    change is made."""
    cdp = "/goog/cdp/execute"
    browser.call("POST", cdp, {"cmd": "Page.addScriptToEvaluateOnNewDocument",
                               "params": {"source": "delete window.SharedWorker;"}})  # fmt: skip
    browser.call("POST", cdp, {"cmd": "Network.enable", "params": {}})
    browser.call("POST", cdp, {"cmd": "Network.setBlockedURLs",
                               "params": {"urls": ["*/__simplewsgi__/events*"]}})  # fmt: skip
    project(tmp_path)
    server = start(launch)
    browser.get(server.url + "/")
    browser.wait(lambda: color(browser) == RED, what="the first stylesheet")
    write(tmp_path / "static" / "style.css", f"h1 {{ color: {BLUE}; }}\n")
    server.wait_for("swapped stylesheets in open pages")  # told to a page not listening yet
    browser.run("window.notReloaded = 42")
    browser.call("POST", cdp, {"cmd": "Network.setBlockedURLs", "params": {"urls": []}})
    browser.wait(lambda: color(browser) == BLUE, what="the page caught up")
    assert browser.run("return window.notReloaded") is None  # by a reload
