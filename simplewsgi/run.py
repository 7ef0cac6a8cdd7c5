"""ServeOptions -> a running server: load the app, bind, build the server, serve until a signal.

The CLI calls :func:`serve` for plain serving; the reloader's workers call
:func:`serve_on_sockets` with the sockets their supervisor opened. This module never imports
:mod:`simplewsgi.reload` (the CLI chooses between the two) and never exits: an address that
cannot be listened on is a ``listen.ListenError``, an app that cannot be
loaded an ``importer.AppImportError``, and a second stop signal a ``signals.ForcedStop``, which the
caller turns into an exit.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Optional

from simplewsgi.accesslog import handler_class
from simplewsgi.http.server import WSGIServer, demo_app, make_server
from simplewsgi.listen import open_listeners
from simplewsgi.middleware.stack import wrap
from simplewsgi.signals import HEEDED_SIGNALS, ForcedStop

if TYPE_CHECKING:
    import socket
    from collections.abc import Sequence

    from _typeshed.wsgi import WSGIApplication

    from simplewsgi.console import Console
    from simplewsgi.keys import KeyReader
    from simplewsgi.middleware.livehub import LiveHub
    from simplewsgi.options import ServeOptions

# serve_forever's wake-up interval; bounds how long a stop request waits to be noticed.
POLL_INTERVAL = 0.2


def serve(options: ServeOptions, console: Console) -> None:
    """Serve ``options.app`` until a stop signal, then stop gracefully.

    The sockets are opened before the app is imported: an address in use is said at once,
    before the app's start-up code runs, and requests sent while it imports wait in the
    backlog. A unix socket's file is removed when serving ends."""
    listeners = open_listeners(options)
    keys: list[KeyReader] = []
    try:
        app = load_app(options, console.warn)
        server = build_server(options, app, console, listeners.sockets)

        def ready(server: WSGIServer) -> None:
            reader = _key_reader(options, console, server, listeners.addresses())
            keys.extend(filter(None, [reader]))
            line = reader.shortcuts.banner_line() if reader is not None else None
            if reader is not None:
                reader.start()  # before the banner: a key pressed on seeing it is a shortcut
            console.banner(options, listeners.addresses(), keys=line)
            if options.open:
                from simplewsgi.keys import first_url, open_browser

                open_browser(first_url(options, listeners.addresses()), console)

        serve_until_signal(server, ready=ready, goodbye=console.goodbye, say=console.info)
    finally:
        for reader in keys:
            reader.close()  # the terminal's mode back, on every way out
        listeners.close()


def _key_reader(
    options: ServeOptions, console: Console, server: WSGIServer, addresses: Sequence[Any]
) -> Optional[KeyReader]:
    """The keyboard shortcuts, when asked for and stdin is this process's terminal; a pdb
    prompt in the app pauses them."""
    if not options.keys or not HEEDED_SIGNALS or not os.isatty(0):  # nothing more loaded
        return None
    from simplewsgi.terminal import Terminal

    terminal = Terminal.claim()
    if terminal is None:
        return None
    from simplewsgi import pdbhook
    from simplewsgi.accesslog import switch_access_log
    from simplewsgi.keys import KeyReader, Shortcuts, first_url

    shortcuts = Shortcuts(
        console,
        first_url(options, addresses),
        options.access_log,
        quit=lambda: os.kill(os.getpid(), HEEDED_SIGNALS[0]),  # as Ctrl+C (SIGINT, if heeded)
        set_access_log=lambda on: switch_access_log(server.RequestHandlerClass, on),
    )
    reader = KeyReader(terminal, shortcuts)
    pdbhook.install(reader.pause, reader.resume)
    return reader


def load_app(
    options: ServeOptions, warn: Optional[Callable[[str], None]] = None
) -> WSGIApplication:
    """The WSGI callable ``options`` names (raises ``importer.AppImportError``), or demo_app,
    after loading ``options.env_files`` into this process's environment (``warn`` hears of
    the lines that could not be parsed): the app's import-time code sees them."""
    if options.env_files:
        from simplewsgi import envfile  # here: python-dotenv only for those who use it

        envfile.load(options.env_files, warn)
    if options.app is None:
        return demo_app
    from simplewsgi.importer import import_app

    return import_app(options.app, app_dir=options.app_dir, factory=options.factory)


def build_server(
    options: ServeOptions,
    app: WSGIApplication,
    console: Console,
    sockets: Sequence[socket.socket],
    live: Optional[LiveHub] = None,
) -> WSGIServer:
    """The server, built through ``make_server`` on ``sockets`` (already listening), serving
    ``app`` behind the layers ``options`` ask for (``middleware.stack``; ``live``, a reloader
    worker's pages under ``--live``); HTTPS when ``options`` has a certificate."""
    context = None
    if options.certfile:  # ssl loads only for TLS
        from simplewsgi.certificates import server_context

        context = server_context(options)

    def server_class(address: tuple[str, int], handler: type) -> WSGIServer:
        return WSGIServer(address, handler, sockets=sockets, ssl_context=context)

    served = wrap(app, options, console.warn, live)
    handler = handler_class(
        console.color,
        options.access_log,
        keep_environ=served is not app,  # the log line reads what the layers decided
        header_timeout=options.timeout_header,
        keep_alive_timeout=options.timeout_keep_alive,
        show_all_frames=options.debug,
    )
    return make_server(options.host[0], options.port, served, server_class, handler)


def serve_until_signal(
    server: WSGIServer,
    ready: Callable[[WSGIServer], None] | None = None,
    goodbye: Callable[[], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> None:
    """Serve until a stop signal (SIGINT, SIGTERM, SIGHUP), then stop gracefully (in-flight
    requests finish).

    ``ready`` (the banner, a worker's report) runs once the stop handlers are in place: a
    Ctrl+C right after "serving" is a graceful stop, not an interruption before serving.
    A second signal during the graceful stop raises ``signals.ForcedStop``. ``say`` tells the user
    what is being waited for, so a stop is never silent.
    """
    stop = threading.Event()

    def first(signum: int, frame: FrameType | None) -> None:
        stop.set()
        for sig in HEEDED_SIGNALS:
            signal.signal(sig, second)
        busy = server.requests_in_flight()
        if say is not None and busy:
            say(
                f"stopping: waiting up to {server.graceful_timeout:g} s for {busy} request(s) "
                "in flight; press Ctrl+C again to quit now"
            )
        server.request_stop()

    def second(signum: int, frame: FrameType | None) -> None:
        raise ForcedStop("quitting now, without waiting for requests in flight")

    previous = {sig: signal.signal(sig, first) for sig in HEEDED_SIGNALS}
    try:
        if ready is not None:
            ready(server)  # a stop from here on ends serve_forever at once: its flag is set
        server.serve_forever(poll_interval=POLL_INTERVAL)
    finally:
        try:
            server.server_close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if stop.is_set() and goodbye is not None:
        goodbye()


def serve_on_sockets(
    options: ServeOptions,
    app: WSGIApplication,
    console: Console,
    sockets: Sequence[socket.socket],
    ready: Callable[[WSGIServer], None] | None = None,
    live: Optional[LiveHub] = None,
) -> None:
    """A reloader worker's main loop: serve ``app`` on the inherited ``sockets`` until a
    signal; ``live``: its open pages (``--live``), whose event streams a stop ends once no
    connection is left to bring a request to this worker (not waited for)."""
    server = build_server(options, app, console, sockets, live)
    if live is not None:
        server.end_endless = live.close
    serve_until_signal(server, ready=ready)
