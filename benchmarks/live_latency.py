"""--live in a real browser: file write -> the open page shows the change, with no action.

Headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by tests/browser.py)
keeps one page open on ``simplewsgi serve --live``; edits alternate between the app's code
(the page must show the new text: a new worker, then a reload of the page) and its stylesheet
(the computed color must change: the sheet swapped in place). The time from just before the
write to the change seen in the page is the latency.

    python benchmarks/live_latency.py [--edits 10] [--pause 0.3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, _call, find_browser, start_driver  # noqa: E402
from tests.test_live_browser import PAGE  # noqa: E402

COLOR_SCRIPT = "return getComputedStyle(document.querySelector('h1')).color"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between edits")
    args = parser.parse_args()
    found = find_browser()
    if isinstance(found, str):
        sys.exit(f"cannot run: {found}")
    chromium, driver_path = found
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "static").mkdir()
        (root / "static" / "style.css").write_text("h1 { color: rgb(0, 0, 0); }\n")
        (root / "app.py").write_text(PAGE.replace("{word}", "v0"))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        command = [sys.executable, "-m", "simplewsgi", "serve", "app:app", "--live", "--no-keys",
                   "--no-access-log", "--static", "/static=static", "-p", "0"]  # fmt: skip
        server = subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.PIPE, text=True)
        driver, url = start_driver(driver_path)
        session = None
        try:
            port = next(m for line in server.stderr or [] if (m := re.search(r":(\d+)/", line)))
            options = {"binary": chromium, "args": ["--headless=new", "--disable-gpu",
                       f"--user-data-dir={root / 'profile'}", "--no-sandbox"]}  # fmt: skip
            capabilities = {"browserName": "chrome", "goog:chromeOptions": options}
            created = _call(
                "POST", f"{url}/session", {"capabilities": {"alwaysMatch": capabilities}}
            )
            session = created["sessionId"]
            browser = Browser(url, session)
            browser.get(f"http://127.0.0.1:{port.group(1)}/")
            browser.wait_text("Hello v0", "#msg")
            code, css = [], []
            for edit in range(1, args.edits + 1):
                time.sleep(args.pause)
                start = time.perf_counter()
                (root / "app.py").write_text(PAGE.replace("{word}", f"v{edit}"))
                browser.wait(lambda: browser.text("#msg") == f"Hello v{edit}", timeout=10)  # noqa: B023
                code.append((time.perf_counter() - start) * 1000)
                time.sleep(args.pause)
                color = f"rgb({edit}, 0, 0)"
                start = time.perf_counter()
                (root / "static" / "style.css").write_text(f"h1 {{ color: {color}; }}\n")
                browser.wait(lambda: browser.run(COLOR_SCRIPT) == color, timeout=10)  # noqa: B023
                css.append((time.perf_counter() - start) * 1000)
        finally:
            if session:
                _call("DELETE", f"{url}/session/{session}")
            driver.terminate()
            driver.wait()
            server.terminate()
            server.wait()
    for name, times in (("code edit -> new page shown", code), ("css edit -> sheet swapped", css)):
        print(f"{name}: median {statistics.median(times):.0f} ms "
              f"(min {min(times):.0f}, max {max(times):.0f}) over {len(times)} edits")  # fmt: skip


if __name__ == "__main__":
    main()
