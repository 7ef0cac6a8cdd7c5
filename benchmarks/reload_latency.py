"""Reload latency: file write -> first response carrying the new code, simplewsgi vs werkzeug.

Method (CONTRIBUTING.md, "Benchmarks": one run, side by side, ratios): both servers run at
once, each on its own copy of the same small app; edits alternate between them. For each edit
the new version is written, then requests go out in a tight loop (a new connection each, as a
browser refresh would open) until one answers with the new version; the time from just before
the write to that answer is the latency. Failed requests (refused, reset, 5xx) during the
reloads are counted too. At the end, the idle CPU of each server's whole process tree is
measured (clock ticks of 10 ms).

    python benchmarks/reload_latency.py [--edits 7] [--pause 0.5] [--idle 2]

simplewsgi runs ``serve --reload`` (inotify, debounced); werkzeug runs
``run_simple(..., use_reloader=True, reloader_type="stat")`` (the default without watchdog).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_DEADLINE = 15.0
RELOAD_DEADLINE = 10.0

APP = """\
VERSION = {version!r}

def app(environ, start_response):
    body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
WERKZEUG = """\
from werkzeug.serving import run_simple
from app import app

run_simple("127.0.0.1", {port}, app, use_reloader=True, reloader_type="stat")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(port: int) -> str | None:
    """The body of GET /, or None if the request failed in any way."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=RELOAD_DEADLINE)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):  # refused, reset, cut mid-response
        return None
    finally:
        conn.close()


class Contender:
    def __init__(self, name: str, workdir: Path, argv: list[str], port: int) -> None:
        self.name, self.workdir, self.port = name, workdir, port
        self.latencies: list[float] = []
        self.failures = 0
        self.version = 0
        (workdir / "app.py").write_text(APP.format(version="v0000"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        end = time.monotonic() + START_DEADLINE
        while fetch(port) != "v0000":
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.02)

    def edit_and_measure(self) -> float:
        self.version += 1
        expected = f"v{self.version:04d}"  # same size each time
        started = time.perf_counter()
        (self.workdir / "app.py").write_text(APP.format(version=expected))
        while True:
            body = fetch(self.port)
            now = time.perf_counter()
            if body == expected:
                break
            if body is None:
                self.failures += 1
            if now - started > RELOAD_DEADLINE:
                raise RuntimeError(f"{self.name} did not serve {expected} within 10 s")
        self.latencies.append((now - started) * 1000.0)
        return self.latencies[-1]

    def tree(self) -> list[int]:
        """This server's process and its descendants (from /proc)."""
        found = [self.proc.pid]
        for pid in found:
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                found.append(int(child))
        return found

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            pids = self.tree()
            for pid in reversed(pids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=7, help="edits per server")
    parser.add_argument("--pause", type=float, default=0.5, help="least seconds between edits")
    parser.add_argument("--idle", type=float, default=2.0, help="idle CPU window, seconds")
    args = parser.parse_args()
    jitter = random.Random(4)
    with tempfile.TemporaryDirectory() as tmp:
        ours_dir, theirs_dir = Path(tmp, "simplewsgi"), Path(tmp, "werkzeug")
        ours_dir.mkdir()
        theirs_dir.mkdir()
        port_ours, port_theirs = free_port(), free_port()
        (theirs_dir / "serve_werkzeug.py").write_text(WERKZEUG.format(port=port_theirs))
        contenders: list[Contender] = []
        try:
            contenders.append(Contender(
                "simplewsgi", ours_dir,
                [sys.executable, "-m", "simplewsgi", "serve", "app:app", "--reload",
                 "--port", str(port_ours)],
                port_ours,
            ))  # fmt: skip
            contenders.append(Contender(
                "werkzeug", theirs_dir, [sys.executable, "serve_werkzeug.py"], port_theirs
            ))  # fmt: skip
            for edit in range(args.edits):
                for contender in contenders:
                    # An editor's save, not a stress test; random, so that edits do not lock
                    # onto the phase of a 1 s poll.
                    time.sleep(args.pause + jitter.random())
                    ms = contender.edit_and_measure()
                    print(f"edit {edit + 1} {contender.name:10} {ms:8.1f} ms")
            time.sleep(args.pause)
            trees = [c.tree() for c in contenders]
            before = [cpu_seconds(pids) for pids in trees]
            time.sleep(args.idle)
            idle = [cpu_seconds(pids) - b for pids, b in zip(trees, before)]
        finally:
            for contender in contenders:
                contender.stop()
    print(f"\nwrite -> first new response, median of {args.edits} edits")
    print(f"{'server':12}{'median ms':>12}{'min':>10}{'max':>10}{'failed':>8}{'idle CPU ms':>13}")
    for contender, cpu in zip(contenders, idle):
        lat = contender.latencies
        print(
            f"{contender.name:12}{statistics.median(lat):12.1f}{min(lat):10.1f}{max(lat):10.1f}"
            f"{contender.failures:8d}{cpu * 1000:8.0f} in {args.idle:g} s"
        )
    ours, theirs = (statistics.median(c.latencies) for c in contenders)
    print(f"\nsimplewsgi is {theirs / ours:.1f}x faster to reload than werkzeug's stat reloader")


if __name__ == "__main__":
    main()
