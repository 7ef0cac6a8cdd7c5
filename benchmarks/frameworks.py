"""Each framework's request round trip under simplewsgi against werkzeug's dev server and
waitress, side by side in one run, printed as a Markdown table.

Method (CONTRIBUTING.md, "Benchmarks"): the same small app per framework (GET /hello, POST
/echo of 256 bytes), one server process pinned to core 1, this client pinned to core 0 sending
sequential requests on one keep-alive connection (http.client), the median round trip per
round, then the median of the rounds; servers and frameworks interleaved in every round.
Servers and frameworks that are not installed are skipped. Ratios matter, not absolute numbers.

- ``simplewsgi``: ``make_server(...).serve_forever()``, its access log to /dev/null;
- ``simplewsgi CLI``: ``simplewsgi serve bench_x:app``, its access log to a file;
- ``werkzeug``: ``run_simple(threaded=True)``; ``waitress``: ``serve(threads=4)``.

    python benchmarks/frameworks.py [--requests 1000] [--rounds 5] [--frameworks flask,django]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import ROOT, free_port, start, taskset, wait_listening

POST_BODY = b"x" * 256
WARM_UP = 50
CLI = "simplewsgi CLI"
SERVERS = ["simplewsgi", CLI, "werkzeug", "waitress"]

APPS = {
    "wsgi": """
def app(environ, start_response):
    if environ["PATH_INFO"] == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    else:
        body = b"Hello, world!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
""",
    "flask": """
from flask import Flask, request
app = Flask(__name__)

@app.get("/hello")
def hello():
    return "Hello, world!"

@app.post("/echo")
def echo():
    return request.get_data()
""",
    "django": """
import django
from django.conf import settings
settings.configure(
    SECRET_KEY="benchmark", DEBUG=False, ALLOWED_HOSTS=["127.0.0.1"], ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
)
django.setup()
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

def hello(request):
    return HttpResponse(b"Hello, world!", content_type="text/plain")

@csrf_exempt
def echo(request):
    return HttpResponse(request.body, content_type="application/octet-stream")

urlpatterns = [path("hello", hello), path("echo", echo)]
app = get_wsgi_application()
""",
    "bottle": """
import bottle
app = bottle.Bottle()

@app.get("/hello")
def hello():
    return "Hello, world!"

@app.post("/echo")
def echo():
    return bottle.request.body.read()
""",
    "falcon": """
import falcon

class Hello:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, world!"

class Echo:
    def on_post(self, req, resp):
        resp.data = req.bounded_stream.read()

app = falcon.App()
app.add_route("/hello", Hello())
app.add_route("/echo", Echo())
""",
    "pyramid": """
from pyramid.config import Configurator
from pyramid.response import Response

def hello(request):
    return Response(b"Hello, world!", content_type="text/plain")

def echo(request):
    return Response(request.body, content_type="application/octet-stream")

with Configurator() as config:
    config.add_route("hello", "/hello")
    config.add_view(hello, route_name="hello")
    config.add_route("echo", "/echo")
    config.add_view(echo, route_name="echo")
    app = config.make_wsgi_app()
""",
}
KINDS = [("GET", "/hello", None), ("POST", "/echo", POST_BODY)]


def start_cli(framework: str, port: int, workdir: str) -> subprocess.Popen[bytes]:
    """The command, its access log (stderr) appended to a file, as a user would redirect it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(Path(workdir, "access.log"), "ab") as log:
        proc = subprocess.Popen(
            [*taskset(1), sys.executable, "-m", "simplewsgi", "serve", f"bench_{framework}:app",
             "--port", str(port), "--app-dir", workdir, "--color", "never", "--no-keys"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    wait_listening(port)
    return proc


def round_trips(
    port: int, method: str, path: str, body: bytes | None, count: int
) -> tuple[list[float], int]:
    """Seconds per request of ``count`` sequential requests on one keep-alive connection (after
    a warm-up), and how many responses closed the connection (http.client then reconnects);
    raises if a response is not a 200 with the expected body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    expected = body if body is not None else b"Hello, world!"
    times, closed = [], 0
    try:
        for n in range(WARM_UP + count):
            began = time.perf_counter()
            conn.request(method, path, body=body)
            response = conn.getresponse()
            data = response.read()
            took = time.perf_counter() - began
            if response.status != 200 or data != expected:
                raise RuntimeError(f"{method} {path}: {response.status} {data[:80]!r}")
            if n >= WARM_UP:
                times.append(took)
                closed += response.will_close
    finally:
        conn.close()
    return times, closed


def installed(name: str) -> bool:
    return name == "wsgi" or importlib.util.find_spec(name) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per kind, server, round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frameworks", default=",".join(APPS))
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args()
    frameworks = [name for name in args.frameworks.split(",") if installed(name)]
    servers = [
        name for name in args.servers.split(",") if name in (CLI, "simplewsgi") or installed(name)
    ]
    for name in {*args.frameworks.split(","), *args.servers.split(",")} - {*frameworks, *servers}:
        print(f"skipping {name}: not installed")
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {0})  # the client on core 0, servers on core 1
    results: dict[tuple[str, str, str], list[float]] = {}
    closes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for framework in frameworks:
            Path(workdir, f"bench_{framework}.py").write_text(APPS[framework])
        for round_no in range(args.rounds):
            for framework in frameworks:
                for server in servers:
                    port = free_port()
                    if server == CLI:
                        proc = start_cli(framework, port, workdir)
                    else:
                        proc = start(server, port, workdir, {}, module=f"bench_{framework}")
                    try:
                        for method, path, body in KINDS:
                            times, closed = round_trips(port, method, path, body, args.requests)
                            closes[server] = closes.get(server, 0) + closed
                            median = statistics.median(times) * 1e6
                            results.setdefault((framework, method, server), []).append(median)
                            print(f"round {round_no + 1} {framework:8} {method:5} {server:15}"
                                  f"{median:9.0f} µs")  # fmt: skip
                    finally:
                        proc.terminate()
                        proc.wait(10)
    print(
        f"\nMedian round trip in µs ({args.requests} sequential keep-alive requests per round, "
        f"median of {args.rounds} rounds; POST: {len(POST_BODY)} bytes echoed; the ratios are "
        "the other server's time over simplewsgi's: above 1, simplewsgi is faster)\n"
    )
    print("| framework | request | " + " | ".join(servers) + " | werkzeug / simplewsgi | "
          "waitress / simplewsgi |")  # fmt: skip
    print("|---|---|" + "---:|" * (len(servers) + 2))
    for framework in frameworks:
        for method, _, _ in KINDS:
            cell = {s: statistics.median(results[(framework, method, s)]) for s in servers}
            row = [f"{cell[s]:.0f}" for s in servers]
            for other in ("werkzeug", "waitress"):
                ours = cell.get("simplewsgi")
                row.append(f"{cell[other] / ours:.2f}" if ours and other in cell else "n/a")
            print(f"| {framework} | {method} | " + " | ".join(row) + " |")
    for server, closed in closes.items():
        if closed:
            print(f"\nnote: {server} closed the connection after {closed} responses")


if __name__ == "__main__":
    main()
