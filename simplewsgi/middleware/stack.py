"""The one place the layers are chosen: ``ServeOptions`` -> the app wrapped in them.

Outermost first: the live refresh (``--live``: it sees every HTML page, the debug page's
too), the debug page (``--debug``), proxy headers, root path, static files, the lint
checker, then the app (the package docstring says why). A layer whose option is unused is
neither built nor imported, so plain serving pays nothing for them. Values were checked by the
CLI; they are parsed again here because a reloader worker gets them as JSON, and a DIR that
vanished since is only a directory with no files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from simplewsgi.middleware.livehub import LiveHub
    from simplewsgi.options import ServeOptions


def wrap(
    app: WSGIApplication,
    options: ServeOptions,
    warn: Optional[Callable[[str], None]] = None,
    live: Optional[LiveHub] = None,
) -> WSGIApplication:
    """``app`` behind the layers ``options`` ask for (``app`` itself when none); ``warn``
    hears the lint layer's complaints (stderr when None); ``live``: the worker's open pages
    (``--live``, a reloader worker only)."""
    if options.lint:  # closest to the app: it checks the app's own values
        from simplewsgi.middleware.lint import Lint, to_stderr

        app = Lint(app, warn or to_stderr)
    if options.static:
        from simplewsgi.middleware.static import StaticFiles, load_mount

        app = StaticFiles(app, [load_mount(spec) for spec in options.static])
    if options.root_path:
        from simplewsgi.middleware.prefix import url_prefix, wsgi_form
        from simplewsgi.middleware.rootpath import RootPath

        root = url_prefix(options.root_path)
        if root:
            app = RootPath(app, wsgi_form(root))
    if options.proxy_headers:
        from simplewsgi.middleware.proxy import ProxyHeaders, TrustedPeers

        app = ProxyHeaders(app, TrustedPeers(options.forwarded_allow_ips))
    if options.debug:  # outermost: it sees the socket's peer before the proxy layer
        from simplewsgi.middleware.debug import DebugErrors

        app = DebugErrors(app, options.debug_allow_ips)
    if live is not None:
        from simplewsgi.middleware.live import LiveReload

        app = LiveReload(app, live)
    return app
