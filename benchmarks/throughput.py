"""Requests per second of simplewsgi against the anchors, side by side in one run.

Method (CONTRIBUTING.md, "Benchmarks"): one server process pinned to core 1, `wrk -t1 -c10`
pinned to core 0, interleaved rounds, medians; the access log on, sent to /dev/null. Servers that
are not installed are skipped. Ratios matter, not absolute numbers: the machine is noisy.

    python benchmarks/throughput.py [--duration 5] [--rounds 3] [--servers simplewsgi,wsgiref]
    python benchmarks/throughput.py --servers simplewsgi --tree before=/path/to/other/checkout

``--tree NAME=DIR`` adds the simplewsgi of another checkout (say, main before a change) as one
more server, so a change is measured against its base in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

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

SERVE = "make_server('127.0.0.1', {port}, app).serve_forever()"
SERVERS = {
    "simplewsgi": "from simplewsgi import make_server; " + SERVE,
    "wsgiref": "from wsgiref.simple_server import make_server; " + SERVE,
    "waitress": "import waitress; waitress.serve(app, host='127.0.0.1', port={port}, threads=4)",
    "werkzeug": "from werkzeug.serving import run_simple; run_simple('127.0.0.1', {port}, app, "
    "threaded=True)",
}

POST_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("x", 10240)\n'
CLOSE_LUA = 'wrk.headers["Connection"] = "close"\n'

SCENARIOS = [
    ("hello keep-alive", "/", None),
    ("hello close", "/", CLOSE_LUA),
    ("64 KiB body", "/big", None),
    ("POST 10 KiB echo", "/echo", POST_LUA),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server on port {port} did not start")


def taskset(core: int) -> list[str]:
    return (
        ["taskset", "-c", str(core)]
        if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1
        else []
    )  # type: ignore[operator]


def start(
    name: str, port: int, workdir: str, trees: dict[str, str], module: str = "bench_app"
) -> subprocess.Popen[bytes]:
    """``name``'s server on ``port``, pinned to core 1, serving ``app`` from ``module`` (a
    module in ``workdir``)."""
    code = SERVERS["simplewsgi" if name in trees else name].format(port=port)
    env = {**os.environ, "PYTHONPATH": f"{workdir}{os.pathsep}{trees.get(name, ROOT)}"}
    proc = subprocess.Popen(
        [*taskset(1), sys.executable, "-c", f"from {module} import app; {code}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port)
    return proc


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_wrk(
    port: int, path: str, lua: str | None, duration: int, workdir: str
) -> tuple[float, float]:
    cmd = [*taskset(0), "wrk", "-t1", "-c10", f"-d{duration}s", "--latency"]
    if lua:
        script = Path(workdir) / f"s{abs(hash(lua))}.lua"
        script.write_text(lua)
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if errors:
        print(f"    note: {errors.group(0)}")
    return rps, latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="simplewsgi,wsgiref,waitress,werkzeug")
    parser.add_argument("--scenarios", default=",".join(name for name, _, _ in SCENARIOS))
    parser.add_argument(
        "--tree", action="append", default=[], metavar="NAME=DIR", help="another checkout"
    )
    args = parser.parse_args()
    trees = dict(tree.split("=", 1) for tree in args.tree)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    names = []
    for name in args.servers.split(","):
        module = name if name != "simplewsgi" else None
        if module and module != "wsgiref":
            try:
                __import__(module)
            except ImportError:
                print(f"skipping {name}: not installed")
                continue
        names.append(name)
    names += [name for name in trees if name not in names]
    scenarios = [s for s in SCENARIOS if s[0] in args.scenarios.split(",")]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    peak: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "bench_app.py").write_text(APP)
        for round_no in range(args.rounds):
            for name in names:
                port = free_port()
                proc = start(name, port, workdir, trees)
                try:
                    for label, path, lua in scenarios:
                        result = run_wrk(port, path, lua, args.duration, workdir)
                        results.setdefault((name, label), []).append(result)
                        print(
                            f"round {round_no + 1} {name:10} {label:18} "
                            f"{result[0]:10.0f} req/s  p99 {result[1]:.2f} ms"
                        )
                    peak[name] = max(peak.get(name, 0.0), rss_mib(proc.pid))
                finally:
                    proc.terminate()
                    proc.wait(10)
    print(f"\nmedians of {args.rounds} rounds, wrk -t1 -c10 -d{args.duration}s")
    header = (
        f"{'server':12}"
        + "".join(f"{label:>20}" for label, _, _ in scenarios)
        + f"{'p99 ms (ka)':>14}{'peak RSS MiB':>14}"
    )
    print(header)
    for name in names:
        row = f"{name:12}"
        for label, _, _ in scenarios:
            row += f"{statistics.median(r[0] for r in results[(name, label)]):20.0f}"
        first = scenarios[0][0]
        row += f"{statistics.median(r[1] for r in results[(name, first)]):14.2f}{peak[name]:14.1f}"
        print(row)
    if "simplewsgi" in names:
        print()
        for other in names:
            if other == "simplewsgi":
                continue
            row = f"simplewsgi / {other:10}"
            for label, _, _ in scenarios:
                ours = statistics.median(r[0] for r in results[("simplewsgi", label)])
                theirs = statistics.median(r[0] for r in results[(other, label)])
                row += f"{ours / theirs:19.2f}x" if theirs else f"{'n/a':>20}"
            print(row)


if __name__ == "__main__":
    main()
