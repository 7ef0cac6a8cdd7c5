"""``--root-path /prefix``: the app is mounted at a prefix of the URL space.

``SCRIPT_NAME`` gets the prefix (after whatever a trusted proxy's ``X-Forwarded-Prefix`` put
there), and the prefix is taken off ``PATH_INFO`` when the request has it: ``/app/users`` reaches
the app as ``SCRIPT_NAME=/app``, ``PATH_INFO=/users``, and ``/app`` itself as ``PATH_INFO=""``
(PEP 3333's "the root of the app, without a trailing slash"). A request without the prefix (a
proxy in front already stripped it) keeps its path: the app still builds its URLs under the
prefix, which is what that proxy's clients see. Only whole segments match: ``/application`` is
not under ``/app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simplewsgi.middleware.prefix import path_under

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class RootPath:
    """The WSGI layer; ``root`` is a non-empty prefix from ``prefix.url_prefix``."""

    def __init__(self, app: WSGIApplication, root: str) -> None:
        self.app = app
        self.root = root

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rest = path_under(environ.get("PATH_INFO", ""), self.root)
        if rest is not None:
            environ["PATH_INFO"] = rest
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.root
        return self.app(environ, start_response)
