"""Where one request's time goes in the core, in microseconds per step, without sockets.

    python benchmarks/request_budget.py [--tree before=/path/to/other/checkout]

Each step is timed alone on a typical request (a GET with three header fields, a 13-byte
response with its Content-Length) with the best of several runs, then the whole request
(bytes in, bytes out and the access line, through ``finish_request`` on in-memory streams,
keep-alive, 20,000 requests on one connection). "the rest" is the whole minus the steps:
the handler's own work (the server's contexts, the body reader, the drain, the calls
between). Each tree runs in a subprocess of its own, one after the other, twice (A B A B),
and the better of its two runs is shown. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import timeit
from pathlib import Path
from typing import Any, Callable

from trees import add_tree_option

ROOT = Path(__file__).resolve().parent.parent
HEAD = b"GET /hello?x=1 HTTP/1.1\r\nHost: localhost:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
COUNT = 20_000


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = b"Hello, world!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [body]


def best(step: Callable[[], object], number: int = 20_000) -> float:
    return min(timeit.repeat(step, number=number, repeat=5)) / number * 1e6


def measure() -> dict[str, float]:
    """Runs inside the tree's interpreter (sys.path set by the caller); the access lines go
    to the null device, line-buffered (a write per line, as stderr)."""
    with open(os.devnull, "w", buffering=1) as log:
        sys.stderr = log
        try:
            return _measure()
        finally:
            sys.stderr = sys.__stderr__


def _measure() -> dict[str, float]:
    import socketserver

    from simplewsgi.accesslog import handler_class
    from simplewsgi.http import parsing
    from simplewsgi.http.body import FixedLengthBody
    from simplewsgi.http.headers import RequestHeaders
    from simplewsgi.http.response import Response
    from simplewsgi.http.server import WSGIServer, make_server

    class Server(WSGIServer):
        def __init__(self, address: Any, handler: Any) -> None:
            socketserver.BaseServer.__init__(self, address, handler)
            self.server_name, self.server_port = address
            self.setup_environ()

    class Handler(handler_class(False, True)):  # type: ignore[misc]
        def setup(self) -> None:
            self.connection = self.request
            self.rfile, self.wfile = self.request

        def finish(self) -> None:
            pass

    server = make_server("localhost", 8000, app, Server, Handler)
    steps: dict[str, float] = {}
    rfile = io.BufferedReader(io.BytesIO(HEAD))  # type: ignore[arg-type]
    take_head = getattr(parsing, "take_head", None)

    def read_head() -> Any:
        rfile.seek(0)
        head = take_head(rfile) if take_head is not None else None
        if head is not None:
            head = head[:2]
        else:
            line = parsing.read_request_line(rfile)
            head = (line, parsing.read_headers(rfile))
        return head

    line, fields = read_head()
    steps["read and parse the head"] = best(read_head)
    steps["framing (Content-Length, Host, Connection)"] = best(
        lambda: parsing.request_framing(fields, True)
    )
    handler = Handler.__new__(Handler)
    handler.server = server
    handler.client_address = ("127.0.0.1", 50000)
    handler.command, handler.path, handler.request_version = line[:3]
    handler.requestline = line[3]
    handler.headers = RequestHeaders(fields)
    handler.framing = parsing.request_framing(fields, True)
    handler.request_start = 0.0
    steps["headers object, body reader"] = best(
        lambda: (RequestHeaders(fields), FixedLengthBody(rfile, 0, None))
    )
    steps["get_environ"] = best(handler.get_environ)
    environ = handler.get_environ()
    out = io.BytesIO()

    def respond() -> None:
        out.seek(0)
        response = Response(
            environ,
            FixedLengthBody(rfile, 0, None),
            out,
            server_header=handler.version_string(),
            version="HTTP/1.1",
            close=False,
            max_drain=handler.max_drain_bytes,
            log=handler.log_message,
            policy=server,
        )
        response.run(app)

    steps["app, start_response, head, write"] = best(respond)
    handler.environ = environ
    steps["access line (format, write)"] = best(lambda: handler.log_request(200, 13))
    data = HEAD * COUNT

    def whole() -> None:
        inp = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
        server.finish_request((inp, io.BytesIO()), ("127.0.0.1", 50000))

    total = min(timeit.repeat(whole, number=1, repeat=5)) / COUNT * 1e6
    steps["the rest (handler, contexts, drain, calls)"] = total - sum(steps.values())
    steps["whole request"] = total
    return steps


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        sys.path.insert(0, sys.argv[2])
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        print(json.dumps(measure()))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_tree_option(parser)
    args = parser.parse_args()
    trees = {"this tree": str(ROOT), **dict(args.tree)}
    results: dict[str, dict[str, float]] = {}
    for _ in range(2):
        for name, root in trees.items():
            out = subprocess.run(
                [sys.executable, __file__, "--measure", root],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": root},
            ).stdout
            steps = json.loads(out)
            kept = results.setdefault(name, steps)
            for step, value in steps.items():
                kept[step] = min(kept[step], value)
    names = list(trees)
    print(f"{'µs per request':44}" + "".join(f"{name:>14}" for name in names))
    for step in results[names[0]]:
        print(f"{step:44}" + "".join(f"{results[name][step]:14.2f}" for name in names))


if __name__ == "__main__":
    main()
