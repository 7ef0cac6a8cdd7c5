"""simplewsgi: a drop-in replacement for ``wsgiref.simple_server`` that speaks HTTP/1.1.

Importing this package loads the server API only (:mod:`simplewsgi.http`, standard library);
the command-line interface, the reloader and colored logging live in modules that are imported
on demand.
"""

from __future__ import annotations

from simplewsgi.http.handler import WSGIRequestHandler
from simplewsgi.http.server import WSGIServer, demo_app, make_server
from simplewsgi.version import __version__

__all__ = ["WSGIRequestHandler", "WSGIServer", "__version__", "demo_app", "make_server"]
