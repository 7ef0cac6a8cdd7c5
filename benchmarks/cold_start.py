"""Cold start, launch -> first 200 OK: the CLI against a bare ``make_server`` script.

``simplewsgi demo`` must start within 1.3x of a bare ``make_server(...).serve_forever()``
measured in the same run (the CLI's import of click is most of the difference). The machine is
noisy, so the commands are launched in turn and the medians compared. Each launch gets a fresh
free port; the client polls connect + GET until the first 200, then the server is killed by PID
and reaped.

    python3 benchmarks/cold_start.py [--runs 15] [--tree before=/path/to/other/checkout]

``--tree NAME=DIR`` adds ``simplewsgi demo`` from another checkout, so a change is measured
against its base in the same run.

Runs from a clean clone: the repository root is put on PYTHONPATH of the launched servers, and
the package is byte-compiled first, as ``pip install`` does. ``PYTHONDONTWRITEBYTECODE`` and
``PYTHONUNBUFFERED`` are removed from the environment, as users do not have them. Output is
piped, so no color, no colorama.
"""

from __future__ import annotations

import argparse
import compileall
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from trees import add_tree_option

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1.3  # the ratio we allow the CLI over a bare script
DEADLINE = 10.0  # seconds for one launch to answer before the run is declared broken
POLL_PAUSE = 0.0005  # between connection attempts while the server starts
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"

BARE = (
    "from simplewsgi import make_server, demo_app; "
    "make_server('127.0.0.1', {port}, demo_app).serve_forever()"
)


def commands(port: int, trees: dict[str, str]) -> dict[str, tuple[list[str], str]]:
    """Name -> (argv, the checkout it runs from)."""
    demo = [sys.executable, "-m", "simplewsgi", "demo", "--port", str(port)]
    found = {
        "bare make_server": ([sys.executable, "-c", BARE.format(port=port)], str(ROOT)),
        "simplewsgi demo": (demo, str(ROOT)),
    }
    found.update({f"simplewsgi demo ({name})": (demo, tree) for name, tree in trees.items()})
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_ok(port: int, deadline: float) -> bool:
    """One attempt: True when a GET on ``port`` answered 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
            sock.sendall(REQUEST)
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def launch(command: tuple[list[str], str], port: int, env: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to its first 200 on ``port``."""
    argv, tree = command
    env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")])))
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while not first_ok(port, DEADLINE):
            if proc.poll() is not None or time.perf_counter() - start > DEADLINE:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise SystemExit(f"{argv} did not answer on port {port}:\n{err}")
            time.sleep(POLL_PAUSE)
        return time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="launches of each (default 15)")
    add_tree_option(parser)
    args = parser.parse_args()
    trees = dict(args.tree)
    for tree in [str(ROOT), *trees.values()]:
        compileall.compile_dir(str(Path(tree) / "simplewsgi"), quiet=1)
    env = dict(os.environ)
    for name in ("NO_COLOR", "FORCE_COLOR", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        env.pop(name, None)
    names = list(commands(0, trees))
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up: the file cache, not the measurement
        port = free_port()
        launch(commands(port, trees)[name], port, env)
    for run in range(args.runs):
        for name in names if run % 2 == 0 else names[::-1]:
            port = free_port()
            times[name].append(launch(commands(port, trees)[name], port, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:18} median {medians[name] * 1000:6.1f} ms   "
            f"min {min(values) * 1000:6.1f} ms   max {max(values) * 1000:6.1f} ms"
        )
    for name in names[2:]:
        print(f"ratio {name} / bare: {medians[name] / medians['bare make_server']:.2f}x")
    ratio = medians["simplewsgi demo"] / medians["bare make_server"]
    verdict = "ok" if ratio <= LIMIT else f"FAIL (limit {LIMIT}x)"
    print(f"ratio simplewsgi demo / bare: {ratio:.2f}x  {verdict}")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
