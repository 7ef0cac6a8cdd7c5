"""Faults a real machine produces: no thread can be started (memory limits).

The server runs in a subprocess whose address space is capped just above what it uses, so that
``pthread_create`` cannot map a thread stack: the real "can't start new thread", no mock.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.helpers import DEADLINE, wait_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and RLIMIT_AS")

SERVER = textwrap.dedent(
    """
    import resource, signal, sys, threading
    from simplewsgi import make_server
    from simplewsgi.run import serve_until_signal

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"served"]

    STACK = 32 * 1024 * 1024
    threading.stack_size(STACK)
    server = make_server("127.0.0.1", 0, app)

    def vm_bytes():
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmSize:"))
        return int(line.split()[1]) * 1024

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)

    def lift(signum, frame):
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        print("lifted", flush=True)

    signal.signal(signal.SIGUSR1, lift)
    # Room for everything but a thread stack.
    resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + STACK // 2, hard))
    print("port", server.server_address[1], flush=True)
    serve_until_signal(server)
    print("stopped", flush=True)
    """
)


def get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def run_limited(exercise: Callable[[subprocess.Popen[str], int], None]) -> tuple[str, str]:
    """Start SERVER, run ``exercise(proc, port)``, stop it with SIGINT; (stdout, stderr) once
    it exited with 0, "stopped" and no traceback. The process is killed if anything fails."""
    with subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            first = proc.stdout.readline()
            match = re.match(r"port (\d+)", first)
            assert match, first + proc.stderr.read()
            exercise(proc, int(match.group(1)))
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "stopped", err
    assert "Traceback" not in err, err
    return out, err


def test_no_thread_for_a_connection_is_a_503_then_the_server_recovers() -> None:
    def exercise(proc: subprocess.Popen[str], port: int) -> None:
        for _ in range(3):  # every connection is answered, not dropped
            reply = get(port)
            assert reply.startswith(b"HTTP/1.1 503 "), reply
            assert b"Connection: close" in reply
        proc.send_signal(signal.SIGUSR1)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "lifted"
        reply = get(port)
        assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"served"), reply

    _, err = run_limited(exercise)
    # Logged once for the whole episode, not once per connection.
    assert err.count("cannot start a thread") == 1, err


def test_a_stop_needs_no_new_thread() -> None:
    """Ctrl+C while no thread can start still stops gracefully (the signal handler used to
    start a thread to call shutdown(), and died with 'can't start new thread')."""

    def exercise(proc: subprocess.Popen[str], port: int) -> None:
        assert get(port).startswith(b"HTTP/1.1 503 ")  # no thread can start now

    run_limited(exercise)


FD_SERVER = textwrap.dedent(
    """
    import resource
    from simplewsgi import make_server
    from simplewsgi.run import serve_until_signal

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"served"]

    resource.setrlimit(resource.RLIMIT_NOFILE, (48, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    server = make_server("127.0.0.1", 0, app)
    print("port", server.server_address[1], flush=True)
    serve_until_signal(server)
    print("stopped", flush=True)
    """
)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors_the_accept_loop_backs_off_and_recovers() -> None:
    """EMFILE on accept() must not spin the accept loop (the listening socket stays readable)
    nor crash: log once, pause, and serve again once descriptors are free."""
    crowd: list[socket.socket] = []
    with subprocess.Popen(
        [sys.executable, "-c", FD_SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline().split()[1])
            for _ in range(80):  # more than the server's descriptors: some wait in the backlog
                crowd.append(socket.create_connection(("127.0.0.1", port), timeout=DEADLINE))
            fds = Path(f"/proc/{proc.pid}/fd")
            wait_for(lambda: len(list(fds.iterdir())) >= 44, what="the server out of descriptors")
            before = _cpu_seconds(proc.pid)
            time.sleep(1.0)  # a measurement window, not a wait: CPU used while out of fds
            busy = _cpu_seconds(proc.pid) - before
            for sock in crowd:
                sock.close()
            crowd.clear()
            deadline = time.monotonic() + DEADLINE
            while True:  # served again once the crowd is gone
                with contextlib.suppress(OSError):
                    if get(port).startswith(b"HTTP/1.1 200 "):
                        break
                assert time.monotonic() < deadline, "never served again"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=DEADLINE)
        finally:
            for sock in crowd:
                sock.close()
            if proc.poll() is None:
                proc.kill()
    assert busy < 0.3, f"the accept loop used {busy:.2f} s of CPU in 1 s"
    assert err.count("out of file descriptors") == 1, err
    assert proc.returncode == 0 and out.splitlines()[-1] == "stopped", err
