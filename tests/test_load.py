"""Bounded load on loopback against the real command: a crowd of idle and trickling
connections, and a pipelined flood. Each test stops by itself (the crowd's deadlines end it),
kills only the server it started, and reads threads and memory from /proc.

The figures (latency under the crowd, threads and RSS before, during and after) are what
benchmarks/crowd.py measures and prints; here only what must hold is asserted.
"""

from __future__ import annotations

import contextlib
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from simplewsgi.http.limits import THREAD_IDLE_SECONDS
from tests.helpers import DEADLINE, WireReader, wait_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

IDLE = 1000
TRICKLING = 100


def raise_descriptor_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def status_of(pid: int) -> dict[str, int]:
    """Threads and VmRSS (KiB) of ``pid``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {"threads": int(fields["Threads"]), "rss": int(fields["VmRSS"].split()[0])}


class Demo:
    """``simplewsgi demo`` on a free loopback port, with the given options."""

    def __init__(self, *options: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simplewsgi", "demo", "-p", "0", "--no-access-log", *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        banner = ""
        while (match := re.search(r"http://127\.0\.0\.1:(\d+)/", banner)) is None:
            line = self.proc.stderr.readline()
            assert line, banner
            banner += line
        self.port = int(match.group(1))

    def get(self) -> int:
        with socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return WireReader(sock).read().status

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=DEADLINE)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
        return err


def test_a_crowd_of_idle_and_trickling_connections(tmp_path: Path) -> None:
    """1,000 silent connections and 100 sending a header byte every 0.5 s: requests on new
    connections are still answered; the tricklers get 408 at the head deadline and the silent
    ones are closed, so the crowd ends by itself."""
    raise_descriptor_limit(2 * (IDLE + TRICKLING) + 512)
    server = Demo("--timeout-header", "3", "--timeout-keep-alive", "2")
    idle: list[socket.socket] = []
    trickling: list[socket.socket] = []
    stop = threading.Event()
    answers: list[bytes] = []
    try:
        before = status_of(server.proc.pid)
        for _ in range(IDLE):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE))
        for _ in range(TRICKLING):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            trickling.append(sock)

        def trickle() -> None:
            while not stop.wait(0.5):
                for sock in trickling:
                    with contextlib.suppress(OSError):  # already cut by the server
                        sock.sendall(b"x")

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        during = status_of(server.proc.pid)
        statuses = [server.get() for _ in range(20)]  # each within its own deadline
        assert statuses == [200] * 20
        busiest = status_of(server.proc.pid)["threads"]
        for sock in trickling:
            sock.settimeout(DEADLINE)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            answers.append(data)
        for sock in idle:
            sock.settimeout(DEADLINE)
            assert sock.recv(1) == b""  # closed by the server, quietly
        stop.set()
        trickler.join(DEADLINE)
        # The pool's threads end THREAD_IDLE_SECONDS after their last connection; the count
        # to fall below is the peak, read once every connection had its thread (on a busy
        # machine the spawner may not have caught up when ``during`` was read).
        peak = max(during["threads"], busiest)
        wait_for(
            lambda: status_of(server.proc.pid)["threads"] < peak,
            timeout=THREAD_IDLE_SECONDS + DEADLINE,
            what="threads to end with the crowd",
        )
    finally:
        stop.set()
        for sock in idle + trickling:
            sock.close()
        err = server.stop()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[:2]
    assert during["threads"] >= before["threads"]  # a thread per connection while it is open
    assert "Traceback" not in err, err


def test_ten_thousand_pipelined_requests_sent_without_reading() -> None:
    """The requests are read only as fast as they are answered: every one is answered, in
    order, and the server's memory does not grow with the flood."""
    count = 10_000
    server = Demo()
    try:
        before = status_of(server.proc.pid)["rss"]
        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
            flood = (
                b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(count - 1))
                + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            sender = threading.Thread(target=sock.sendall, args=(flood,))
            sender.start()  # sends all before reading anything
            reader = WireReader(sock)
            statuses = [reader.read().status for _ in range(count)]
            sender.join(DEADLINE)
            assert reader.at_eof()
            reader.close()
        after = status_of(server.proc.pid)["rss"]
    finally:
        err = server.stop()
    assert statuses == [200] * count
    assert after - before < 32 * 1024, f"RSS grew {after - before} KiB with the flood"
    assert "Traceback" not in err, err
