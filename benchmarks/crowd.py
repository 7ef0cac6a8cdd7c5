"""A crowd on loopback: what it costs the server and whether others are still served.

For each server (this checkout, and others given with --tree NAME=DIR), one after another:

1. ``simplewsgi demo`` starts; its threads and RSS are read from /proc ("before");
2. the crowd: ``--idle`` silent connections plus ``--trickle`` sending a header byte a second;
   meanwhile ``--probes`` normal requests on new connections are timed ("during");
3. the crowd hangs up; threads and RSS right after, and how long until the threads are back
   near where they started ("after");
4. ``--connect`` connections are opened back to back (how long that takes: a slow accept loop
   overflows the listen backlog and clients wait for SYN retries).

    python benchmarks/crowd.py [--tree before=/path/to/checkout] [--idle 1000] [--trickle 100]

Linux only (/proc). Loopback only; every connection is closed and every server stopped by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 30.0
SETTLE = 40.0  # how long to wait for threads to end after the crowd left


def status(pid: int) -> tuple[int, float]:
    """(threads, RSS in MiB) of ``pid``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


def start(tree: str) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ, PYTHONPATH=tree)
    proc = subprocess.Popen(
        [sys.executable, "-m", "simplewsgi", "demo", "-p", "0", "--no-access-log"],
        env=env,
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    banner = ""
    while (match := re.search(r"http://127\.0\.0\.1:(\d+)/", banner)) is None:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"server from {tree} did not start:\n{banner}")
        banner += line
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    return proc, int(match.group(1))


def probe(port: int) -> float:
    """Milliseconds for one request on a new connection."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        while sock.recv(65536):
            pass
    return (time.perf_counter() - started) * 1000


def measure(name: str, tree: str, args: argparse.Namespace) -> dict[str, str]:
    proc, port = start(tree)
    crowd: list[socket.socket] = []
    stop = threading.Event()
    try:
        threads0, rss0 = status(proc.pid)
        crowd = [
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            for _ in range(args.idle + args.trickle)
        ]
        trickling = crowd[args.idle :]
        for sock in trickling:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n")

        def trickle() -> None:
            while not stop.wait(1.0):
                for sock in trickling:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"x")

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1.0)  # let every crowd connection reach its thread before measuring
        latencies = [probe(port) for _ in range(args.probes)]
        threads1, rss1 = status(proc.pid)
        stop.set()
        for sock in crowd:
            sock.close()
        crowd = []
        time.sleep(1.0)
        threads2, rss2 = status(proc.pid)
        left = time.perf_counter()
        while status(proc.pid)[0] > threads0 + 5 and time.perf_counter() - left < SETTLE:
            time.sleep(0.5)
        settle = time.perf_counter() - left
        threads3, rss3 = status(proc.pid)
        started = time.perf_counter()
        burst = [
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            for _ in range(args.connect)
        ]
        burst_seconds = time.perf_counter() - started
        for sock in burst:
            sock.close()
    finally:
        stop.set()
        for sock in crowd:
            sock.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    settled = f"{settle:.0f} s" if settle < SETTLE else f">{SETTLE:.0f} s"
    return {
        "server": name,
        "probe median": f"{statistics.median(latencies):.1f} ms",
        "probe max": f"{max(latencies):.1f} ms",
        "threads before/during/after": f"{threads0}/{threads1}/{threads2}",
        "RSS MiB before/during/after": f"{rss0:.0f}/{rss1:.0f}/{rss2:.0f}",
        "threads back within": settled,
        "RSS when settled": f"{rss3:.0f} MiB ({threads3} threads)",
        f"{args.connect} connects": f"{burst_seconds:.2f} s",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--trickle", type=int, default=100)
    parser.add_argument("--connect", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=DIR")
    args = parser.parse_args()
    needed = 2 * max(args.connect, args.idle + args.trickle) + 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    trees = {"simplewsgi": str(ROOT), **dict(tree.split("=", 1) for tree in args.tree)}
    rows = [measure(name, tree, args) for name, tree in trees.items()]
    for key in rows[0]:
        print(f"{key:28}" + "".join(f"{row[key]:>26}" for row in rows))


if __name__ == "__main__":
    main()
