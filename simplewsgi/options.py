"""The one frozen options object that the CLI builds and run, the reloader and its workers read.

Every option of ``simplewsgi serve`` is a field here exactly once; the CLI maps click options
onto it and the supervisor hands it to its workers as JSON in an environment variable.

A ``NamedTuple`` rather than a frozen dataclass because it is built on every start-up: creating
this class costs ~0.15 ms against ~1.3 ms for the dataclass (its module and generated methods),
which is 2-3 % of a cold start (benchmarks/cold_start.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

COLOR_CHOICES = ("auto", "always", "never")
# --port auto (issue 12): ``port`` holds this until the CLI picks a real port (the default
# port if free, else the next free one up); run and the reloader's workers never see it.
AUTO_PORT = -1


class ServeOptions(NamedTuple):
    """What to serve and how; defaults are the CLI's defaults. Immutable; ``_replace`` copies."""

    app: Optional[str] = None  # "module:attr" and friends; None serves demo_app
    factory: bool = False
    app_dir: str = "."
    host: tuple[str, ...] = ("127.0.0.1",)  # each is listened on; "localhost" is two
    port: int = 8000
    color: str = "auto"
    access_log: bool = True
    timeout_header: float = 10.0  # http.limits.HEADER_TIMEOUT (not imported: start-up cost)
    timeout_keep_alive: float = 5.0  # http.limits.KEEP_ALIVE_TIMEOUT
    reload: bool = False
    reload_dirs: tuple[str, ...] = ()
    reload_include: tuple[str, ...] = ()
    reload_exclude: tuple[str, ...] = ()
    reload_poll: bool = False
    # -- listeners: instead of TCP on host and port
    uds: Optional[str] = None  # a unix socket's path
    fd: Optional[int] = None  # an inherited listening socket's descriptor
    # The layers in front of the app (middleware/stack.py chooses them from these).
    static: tuple[str, ...] = ()  # "/PREFIX=DIR", DIR absolute (middleware.static.parse_mount)
    root_path: str = ""  # "" or "/prefix" (middleware.prefix.url_prefix)
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1,::1,unix"  # middleware.proxy.TrustedPeers
    # issue 11, configuration: dotenv files loaded, in order, by the process that imports the app
    env_files: tuple[str, ...] = ()
    # TLS (issue 11). The password never reaches a worker's argv or environment: the supervisor
    # blanks it here and sends it through the worker's control pipe.
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    keyfile_password: Optional[str] = None
    tls_self_signed: bool = False
    # issue 12, the error side: --debug's page, who may read an error's details (besides
    # loopback and unix-socket peers; middleware.debugpeers), and the terminal's tracebacks.
    debug: bool = False
    debug_allow_ips: str = ""  # middleware.proxy.TrustedPeers syntax; "" adds nobody
    # issue 12, lint: the app behind a PEP 3333 checker (middleware/lint.py)
    lint: bool = False
    # issue 12, the terminal: keyboard shortcuts when stdin and stderr are a terminal (keys.py),
    # and the browser opened once the server is ready
    keys: bool = True
    open: bool = False
    # issue 12, --live (implies --reload): pages refresh when the code or these files change;
    # a file matching these (and not the reload patterns) refreshes without a new worker
    live: bool = False
    live_include: tuple[str, ...] = ("*.html", "*.css", "*.js")

    def to_json(self) -> str:
        import json  # here: the plain CLI start-up does not need it

        return json.dumps(self._asdict())

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        import json

        # JSON has no tuples: the multiple options come back as lists.
        fields: dict[str, Any] = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in json.loads(text).items()
        }
        return cls(**fields)
