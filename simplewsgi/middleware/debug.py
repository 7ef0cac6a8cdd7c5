"""``--debug``: an exception in the app answers with a page that shows it, to who may see it.

Rules of this module:
- The outermost layer, so that it catches what every layer below and the app raise, and sees
  the request as the server made it: it keeps the socket's peer (``middleware.PEER``) before
  the proxy layer rewrites ``REMOTE_ADDR``, and a copy of the environ for the page's request
  section and curl command (the layers below rewrite host, prefix and path).
- Who sees the page is :class:`.debugpeers.DetailsPolicy`'s decision (loopback, unix-socket
  peers, ``--debug-allow-ips``); everyone else gets the plain 500 the server would send.
- The page replaces the response only while nothing of it went out: an exception while the app
  is called, or while its iterable yields before the first non-empty block, is answered through
  ``start_response(..., exc_info)``. Once a block went out (or the app's ``write()`` sent the
  headers), the exception goes on to the server, which logs it and closes the connection, as
  without ``--debug``. A list or a ``wsgi.file_wrapper`` result is passed on untouched.
- The traceback is written whole to ``wsgi.errors`` (``--debug`` hides no frame).
- Imported only with ``--debug``; the page's modules only when an exception happens.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from simplewsgi.middleware import PEER

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class DebugErrors:
    """The WSGI layer; ``allow`` is ``--debug-allow-ips``."""

    def __init__(self, app: WSGIApplication, allow: str = "") -> None:
        from simplewsgi.middleware.debugpeers import DetailsPolicy

        self.app = app
        self.policy = DetailsPolicy(allow)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ.setdefault(PEER, environ.get("REMOTE_ADDR", ""))
        original = environ.copy()
        try:
            result = self.app(environ, start_response)
        except Exception as error:
            return self.answer(error, environ, original, start_response)
        if isinstance(result, (list, tuple)):
            return result
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(result, wrapper):
            return result
        return self._guard(result, environ, original, start_response)

    def _guard(
        self,
        result: Iterable[bytes],
        environ: WSGIEnvironment,
        original: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterator[bytes]:
        started = False
        try:
            blocks: Iterator[bytes] | None = None
            while True:
                try:
                    if blocks is None:  # its __iter__ may raise too: nothing is sent yet
                        blocks = iter(result)
                    block = next(blocks)
                except StopIteration:
                    return
                except Exception as error:
                    if started:
                        raise
                    yield from self.answer(error, environ, original, start_response)
                    return
                started = started or bool(block)
                yield block
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def answer(
        self,
        error: Exception,
        environ: WSGIEnvironment,
        original: dict[str, Any],
        start_response: StartResponse,
    ) -> list[bytes]:
        """The response to ``error``: the page, or the plain 500 to who may not see it.
        Raises ``error`` again when the response already started. Called while ``error``
        is being handled."""
        exc_info = sys.exc_info()  # called in the except clause that caught ``error``
        if not self.policy.allows(environ):
            from simplewsgi.middleware.debugpeers import plain_500

            body = plain_500(start_response, exc_info)
        else:
            from simplewsgi.middleware.debugcapture import capture, request_info, secrets
            from simplewsgi.middleware.debugpage import STATUS, page

            captured = capture(error, secrets(original))
            body_bytes, headers = page(original, captured, request_info(original))
            start_response(STATUS, headers, exc_info)  # raises error when headers went out
            body = [body_bytes]
        _log(error, environ)
        return body


def _log(error: BaseException, environ: WSGIEnvironment) -> None:
    from simplewsgi.tracebacks import format_exception

    stream = environ.get("wsgi.errors") or sys.stderr
    stream.write(format_exception(error, fold=False))
    stream.flush()
