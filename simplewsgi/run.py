"""ServeOptions -> a running server: resolve the app, bind, print the banner, serve until a signal.

The CLI calls :func:`serve`; with ``reload`` it hands over to the supervisor in
:mod:`simplewsgi.reloader`, whose workers come back here through :func:`serve_on_socket`.
This module raises; only the CLI turns errors into exit codes: an address that cannot be bound
is a ``sockets.PortInUseError`` or a ``sockets.ListenError``, an app that cannot be loaded an
``importer.AppImportError``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Callable

from simplewsgi.options import ServeOptions
from simplewsgi.server import WSGIServer, demo_app, make_server
from simplewsgi.sockets import ListenError, PortInUseError, describe_port_holder, is_addr_in_use

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# serve_forever's wake-up interval; bounds how long a stop request waits to be noticed.
POLL_INTERVAL = 0.2
# Exit status after a second Ctrl+C (128 + SIGINT, what shells report).
EXIT_INTERRUPTED = 130


def serve(options: ServeOptions) -> None:
    """Serve ``options.app`` until SIGINT/SIGTERM; reloading hands over to the supervisor."""
    if options.reload:
        from simplewsgi.reloader import supervise

        supervise(options)
        return
    from simplewsgi import log

    app = load_app(options)
    server = build_server(options, app)
    log.print_banner(options, server.server_address[:2], reloader=None)
    serve_until_signal(server, goodbye=log.print_goodbye, say=log.info)


def load_app(options: ServeOptions) -> WSGIApplication:
    """The WSGI callable ``options`` names (raises ``importer.AppImportError``), or demo_app."""
    if options.app is None:
        return demo_app
    from simplewsgi.importer import import_app

    return import_app(options.app, app_dir=options.app_dir, factory=options.factory)


def build_server(
    options: ServeOptions, app: WSGIApplication, sock: socket.socket | None = None
) -> WSGIServer:
    """The server, built through ``make_server`` (on ``sock`` when a supervisor gave one)."""
    from simplewsgi import log

    handler = log.handler_class(options)
    if sock is not None:
        adopted = sock

        def server_class(address: tuple[str, int], handler_class: type) -> WSGIServer:
            return WSGIServer(address, handler_class, sock=adopted)

        return make_server(options.host, options.port, app, server_class, handler)
    try:
        return make_server(options.host, options.port, app, handler_class=handler)
    except OSError as error:
        if is_addr_in_use(error):
            raise PortInUseError(
                options.host, options.port, describe_port_holder(options.port)
            ) from None
        raise ListenError(options.host, options.port, error) from error


def serve_until_signal(
    server: WSGIServer,
    goodbye: Callable[[], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully (in-flight requests finish).

    A second signal during the graceful stop exits at once. ``say`` tells the user what is
    being waited for, so a stop is never silent.
    """
    stop = threading.Event()

    def first(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, second)
        signal.signal(signal.SIGTERM, second)
        busy = server.requests_in_flight()
        if say is not None and busy:
            say(
                f"stopping: waiting up to {server.graceful_timeout:g} s for {busy} request(s) "
                "in flight; press Ctrl+C again to quit now"
            )
        # shutdown() blocks until serve_forever returns, so it cannot run in this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    def second(signum: int, frame: FrameType | None) -> None:
        if say is not None:
            say("quitting now, without waiting for requests in flight")
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    previous = {sig: signal.signal(sig, first) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever(poll_interval=POLL_INTERVAL)
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.is_set() and goodbye is not None:
        goodbye()


def serve_on_socket(
    options: ServeOptions,
    app: WSGIApplication,
    sock: socket.socket,
    ready: Callable[[WSGIServer], None] | None = None,
) -> None:
    """A reloader worker's main loop: serve ``app`` on the inherited ``sock`` until a signal."""
    server = build_server(options, app, sock)
    if ready is not None:
        ready(server)
    serve_until_signal(server)
