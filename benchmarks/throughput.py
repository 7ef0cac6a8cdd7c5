"""Requests per second of simplewsgi against the other pure-Python WSGI servers and a
fixed-response ceiling, interleaved in one run; a Markdown table and a chart of the ratios.

Method (CONTRIBUTING.md, "Benchmarks"): each server process pinned to core 1, `wrk -t1`
pinned to core 0; for each case, each round starts every server in turn (A B C ... A B C),
so a noisy minute hits all of them; medians, min-max, p99 latency, errors, peak RSS. Ratios
matter, not absolute numbers.

    pip install -r benchmarks/requirements.txt     # the other servers, and matplotlib
    python benchmarks/throughput.py [--duration 3] [--rounds 3] [--servers ...] [--cases ...]
    python benchmarks/throughput.py --servers "simplewsgi CLI" --tree before=/path/to/checkout

Servers: ``simplewsgi CLI`` is the command (``simplewsgi serve``, access log on, written to a
file), ``CLI no log`` the same with ``--no-access-log`` (what the log costs), ``simplewsgi``
the library's ``make_server`` (its log line per request to a file too); wsgiref, werkzeug
(``run_simple(threaded=True)``), waitress (4 threads, its default), cheroot (10 threads, its
default), gunicorn (one gthread worker, 4 threads); ``ceiling`` is benchmarks/ceiling.py.
Servers that are not installed are skipped. ``--tree NAME=DIR`` adds the command of another
checkout, to measure a change against its base in the same run.

Writes benchmarks/results/throughput.md and throughput.svg (``--out`` to change).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from throughput_report import NO_LOG, OURS, Measure, write_report  # noqa: E402
from trees import add_tree_option  # noqa: E402

APP = """
def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/big":
        body = b"x" * 65536
    elif path == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    else:
        body = b"Hello, world!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

PY = sys.executable
SERVE = "from {module} import app; "
# name -> (command, module that must import, or None)
SERVERS: dict[str, tuple[list[str], Optional[str]]] = {
    OURS: ([PY, "-m", "simplewsgi", "serve", "{module}:app", "--port", "{port}"], None),
    NO_LOG: (
        [PY, "-m", "simplewsgi", "serve", "{module}:app", "--port", "{port}", "--no-access-log"],
        None,
    ),
    "simplewsgi": (
        [
            PY,
            "-c",
            SERVE + "from simplewsgi import make_server; "
            "make_server('127.0.0.1', {port}, app).serve_forever()",
        ],
        None,
    ),
    "wsgiref": (
        [
            PY,
            "-c",
            SERVE + "from wsgiref.simple_server import make_server; "
            "make_server('127.0.0.1', {port}, app).serve_forever()",
        ],
        None,
    ),
    "werkzeug": (
        [
            PY,
            "-c",
            SERVE + "from werkzeug.serving import run_simple; "
            "run_simple('127.0.0.1', {port}, app, threaded=True)",
        ],
        "werkzeug",
    ),
    "waitress": (
        [PY, "-c", SERVE + "import waitress; waitress.serve(app, host='127.0.0.1', port={port})"],
        "waitress",
    ),
    "cheroot": (
        [
            PY,
            "-c",
            SERVE + "from cheroot import wsgi; wsgi.Server(('127.0.0.1', {port}), app).start()",
        ],
        "cheroot",
    ),
    "gunicorn": (
        [
            PY,
            "-m",
            "gunicorn",
            "-w",
            "1",
            "--threads",
            "4",
            "-b",
            "127.0.0.1:{port}",
            "{module}:app",
        ],
        "gunicorn",
    ),
    "ceiling": ([PY, str(HERE / "ceiling.py"), "{port}"], None),
}

POST_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("x", 10240)\n'
CLOSE_LUA = 'wrk.headers["Connection"] = "close"\n'


class Case(NamedTuple):
    name: str
    path: str
    lua: Optional[str]
    connections: int


CASES = [
    Case("hello keep-alive", "/", None, 10),
    Case("hello Connection: close", "/", CLOSE_LUA, 10),
    Case("64 KiB body", "/big", None, 10),
    Case("10 KiB POST echo", "/echo", POST_LUA, 10),
    Case("100 keep-alive connections", "/", None, 100),
]
NOT_RUN = {("ceiling", "10 KiB POST echo")}  # the ceiling does not read bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server on port {port} did not start")


def taskset(core: int) -> list[str]:
    cores = os.cpu_count() or 1
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and cores > 1 else []


def tree_rss_mib(pid: int) -> float:
    """Peak RSS (VmHWM) of a process and its children (gunicorn's worker), summed."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pids += [int(child) for child in children]
    return total / 1024


def start(
    name: str, port: int, workdir: str | Path, trees: dict[str, str], module: str = "bench_app"
) -> subprocess.Popen[bytes]:
    """``name``'s server on ``port``, pinned to core 1, serving ``app`` from ``module`` (a
    module in ``workdir``); what it writes to stderr (an access log) appended to a file there.
    A name in ``trees`` is the command of that checkout."""
    command, _ = SERVERS[OURS if name in trees else name]
    root = trees.get(name, str(ROOT))
    env = {**os.environ, "PYTHONPATH": f"{workdir}{os.pathsep}{root}"}
    env.pop("PYTHONUNBUFFERED", None)  # as users run it
    with Path(workdir, f"{name}.log").open("ab") as log:  # its access log, if it writes one
        proc = subprocess.Popen(
            [*taskset(1), *(part.format(port=port, module=module) for part in command)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_listening(port)
    except RuntimeError:
        proc.kill()
        proc.wait()
        raise
    return proc


def run_wrk(port: int, case: Case, duration: int, workdir: Path) -> Measure:
    cmd = [*taskset(0), "wrk", "-t1", f"-c{case.connections}", f"-d{duration}s", "--latency"]
    if case.lua:
        script = workdir / f"{abs(hash(case.lua))}.lua"
        script.write_text(case.lua)
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{case.path}"], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return Measure(rps, latency, errors, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--cases", default=",".join(case.name for case in CASES))
    add_tree_option(parser)
    parser.add_argument("--note", default="", help="said under the table (the machine's load)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    trees = dict(args.tree)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    names = []
    for name in args.servers.split(","):
        module = SERVERS[name][1]
        if module is not None:
            try:
                __import__(module)
            except ImportError:
                print(
                    f"skipping {name}: not installed (pip install -r benchmarks/requirements.txt)"
                )
                continue
        names.append(name)
    names += [name for name in trees if name not in names]
    cases = [case for case in CASES if case.name in args.cases.split(",")]
    results: dict[tuple[str, str], list[Measure]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(APP)
        for case in cases:
            for round_no in range(args.rounds):
                order = names[round_no % len(names) :] + names[: round_no % len(names)]
                for name in order:
                    if (name, case.name) in NOT_RUN:
                        continue
                    port = free_port()
                    proc = start(name, port, workdir, trees)
                    try:
                        measure = run_wrk(port, case, args.duration, workdir)
                        measure = measure._replace(rss_mib=tree_rss_mib(proc.pid))
                    finally:
                        proc.terminate()
                        try:
                            proc.wait(10)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
                    results.setdefault((name, case.name), []).append(measure)
                    print(
                        f"{case.name:28} round {round_no + 1} {name:12} {measure.rps:9.0f} req/s"
                        f"  p99 {measure.p99_ms:7.2f} ms  errors {measure.errors}"
                        f"  RSS {measure.rss_mib:.1f} MiB",
                        flush=True,
                    )
    command = "python benchmarks/throughput.py " + " ".join(sys.argv[1:])
    table = write_report(
        args.out,
        names,
        [case.name for case in cases],
        results,
        command,
        args.duration,
        args.rounds,
        args.note,
    )
    print()
    print(table)


if __name__ == "__main__":
    main()
