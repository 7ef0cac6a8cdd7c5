"""A real browser for the tests: Debian's headless Chromium driven by its ChromeDriver over the
W3C WebDriver protocol (plain JSON over HTTP, so a few urllib calls; no client library, nothing
that downloads a browser build of its own). `.ci/run` installs the `chromium` and
`chromium-driver` packages; where they are missing the tests that need a browser are skipped,
and the skip says why. Screenshots go to `test-artifacts/` (or $SIMPLEWSGI_TEST_ARTIFACTS) and are
kept after the run."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.helpers import wait_for

ARTIFACTS = Path(
    os.environ.get("SIMPLEWSGI_TEST_ARTIFACTS")
    or Path(__file__).resolve().parent.parent / "test-artifacts"
)


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or the reason there are none."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [
        name for name, path in (("chromium", chromium), ("chromium-driver", driver)) if not path
    ]
    if missing:
        names = " and no ".join(missing)
        return f"no {names} on PATH (Debian: apt-get install chromium chromium-driver)"
    assert chromium and driver
    return chromium, driver


class WebDriverError(AssertionError):
    pass


class Browser:
    """One headless Chromium session; the methods the tests need, each one WebDriver call."""

    def __init__(self, driver_url: str, session: str) -> None:
        self.base = f"{driver_url}/session/{session}"

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        return _call(method, self.base + path, body, timeout)

    def get(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self.call("GET", "/url"))

    def run(self, script: str, *args: Any) -> Any:
        """The JavaScript function body `script`, called with `args`; its return value."""
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def text(self, css: str = "body") -> str:
        return str(
            self.run(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null", css
            )
        )

    def find(self, css: str) -> dict[str, str]:
        """The reference to the first element ``css`` selects, as the protocol gives it."""
        found = self.call("POST", "/element", {"using": "css selector", "value": css})
        if not isinstance(found, dict) or not any(key.startswith("element-") for key in found):
            raise WebDriverError(f"no element {css!r}: {found!r}")
        return found

    def _element(self, css: str) -> str:
        return next(iter(self.find(css).values()))

    def click(self, css: str) -> None:
        self.call("POST", f"/element/{self._element(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        self.call("POST", f"/element/{self._element(css)}/value", {"text": text})

    def frame_text(self, css: str) -> str:
        """The text of the frame ``css`` selects (then back to the page)."""
        self.call("POST", "/frame", {"id": self.find(css)})
        try:
            return self.text()
        finally:
            self.call("POST", "/frame/parent", {})

    def screenshot(self, name: str) -> Path:
        """A PNG of the viewport, kept in the artifacts directory."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))
        return path

    def wait(self, predicate: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
        """``helpers.wait_for`` (``predicate`` may call the browser); a timeout also says
        what the page shows."""
        try:
            return wait_for(predicate, timeout, what)
        except AssertionError as error:
            raise AssertionError(f"{error}; page: {self.text()!r}") from None

    def wait_text(self, needle: str, css: str = "body", timeout: float = 20) -> str:
        return str(
            self.wait(
                lambda: needle in (self.text(css) or "") and self.text(css), timeout, repr(needle)
            )
        )


def _call(method: str, url: str, body: Any = None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null").get("value")
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}").get("value", {})
        raise WebDriverError(
            f"{method} {url}: {detail.get('error')}: {detail.get('message')}"
        ) from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_driver(driver: str) -> tuple[subprocess.Popen[bytes], str]:
    """ChromeDriver on a free loopback port, once it answers its status call."""
    for _attempt in range(3):
        port = _free_port()
        process = subprocess.Popen(
            [driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if _call("GET", f"{url}/status", timeout=2).get("ready"):
                    return process, url
            except (OSError, WebDriverError):
                pass
            time.sleep(0.05)
        process.kill()
        process.wait()
    raise AssertionError("chromedriver did not start")


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A fresh headless Chromium (its own profile) for one test; skipped, saying why,
    without one."""
    found = find_browser()
    if isinstance(found, str):
        pytest.skip(found)
    chromium, driver = found
    process, url = start_driver(driver)
    profile = tempfile.mkdtemp(prefix="simplewsgi-chromium-")
    session = None
    try:
        args = [
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1100,800",
        ]
        args += [f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }
        created = _call(
            "POST", f"{url}/session", {"capabilities": {"alwaysMatch": capabilities}}, timeout=60
        )
        session = created["sessionId"]
        yield Browser(url, session)
    finally:
        if session:
            with contextlib.suppress(OSError, WebDriverError):
                _call("DELETE", f"{url}/session/{session}", timeout=20)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
