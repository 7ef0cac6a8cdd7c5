"""simplewsgi: a drop-in replacement for ``wsgiref.simple_server`` that speaks HTTP/1.1.

``from simplewsgi import make_server`` loads the server API only (:mod:`simplewsgi.http`,
standard library). The names are loaded on first use (PEP 562), so that the command line, the
reloader's supervisor and the docs generator, which import modules of this package without
serving, do not pay for the HTTP core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simplewsgi.version import __version__

if TYPE_CHECKING:
    from simplewsgi.http.handler import WSGIRequestHandler
    from simplewsgi.http.server import WSGIServer, demo_app, make_server

__all__ = ["WSGIRequestHandler", "WSGIServer", "__version__", "demo_app", "make_server"]

# Public name -> the module that defines it.
_LAZY = {
    "WSGIRequestHandler": "simplewsgi.http.handler",
    "WSGIServer": "simplewsgi.http.server",
    "demo_app": "simplewsgi.http.server",
    "make_server": "simplewsgi.http.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'simplewsgi' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
