"""How the reloader shows that it has no app to serve: one terminal line, and a 500 page.

A worker that cannot load the app describes the exception as a :class:`FailureReport` and sends
it to its supervisor, which prints it as
``app.py:3: SyntaxError: ... (consequence)`` and the offending line (:func:`summary`). When the
app is broken at start-up, or its worker died, a worker serves the report as a 500 page
(:func:`error_app`) until a change brings a version that imports; that worker imports nothing of
the user's. Browsers (``Accept: text/html``) get HTML, everything else plain text; both say how
to get out of it. The details (the file, the line, the traceback) are only for the clients
:class:`~simplewsgi.middleware.debugpeers.DetailsPolicy` allows (loopback, a unix-socket peer,
``--debug-allow-ips``); the rest, on ``--host 0.0.0.0`` say, get a plain 500 that names nothing.
With ``--debug``, the worker that failed captured the exception in the report
(``middleware.debugcapture``), and the page is the ``--debug`` page (frames, variables, the
request) under this page's title.
"""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING

from simplewsgi.reload.messages import FailureReport

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

STATUS = "500 Internal Server Error"
TITLE = "The app could not be loaded"
HINT = "Fix the file and save it: the server reloads by itself."

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em}"
    "h1{color:#b00020;font-size:1.4em}pre{background:#f6f6f6;padding:1em;overflow:auto}"
    "code{font-weight:bold}"
)


CRASH_HINT = "The server's output may say why it stopped. It restarts when a watched file changes."


def crash_report(message: str) -> FailureReport:
    """The report for a worker that died instead of reporting."""
    return FailureReport(message=message, filename=None, lineno=None, line=None, details=CRASH_HINT)


def display_path(path: str) -> str:
    """``path`` relative to the current directory when it is inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir + os.sep) else relative


def location(report: FailureReport) -> str | None:
    """``app.py:3``, or None when the report names no file."""
    filename = report["filename"]
    if not filename:
        return None
    shown = display_path(filename) if os.path.isabs(filename) else filename
    return f"{shown}:{report['lineno']}" if report["lineno"] else shown


def summary(report: FailureReport, consequence: str) -> str:
    """For the terminal: ``app.py:3: SyntaxError: invalid syntax (consequence)``, then the
    message's further lines and the offending source line, indented."""
    where = location(report)
    first, *rest = (f"{where}: {report['message']}" if where else report["message"]).splitlines()
    if report["line"]:
        rest.append(report["line"])
    return "\n".join([f"{first} ({consequence})", *(f"    {line}" for line in rest)])


def render_text(report: FailureReport) -> str:
    where = location(report)
    lines = [TITLE, "", f"{where}: {report['message']}" if where else report["message"]]
    if report["line"]:
        lines.append(f"    {report['line']}")
    if report["details"]:
        lines += ["", report["details"].rstrip()]
    lines += ["", HINT, ""]
    return "\n".join(lines)


def render_html(report: FailureReport) -> str:
    where = location(report)
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{esc(TITLE)}</title>',
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{esc(TITLE)}</h1>",
        f"<p><code>{esc(where)}</code>: {esc(report['message'])}</p>"
        if where
        else f"<p>{esc(report['message'])}</p>",
    ]
    if report["line"]:
        parts.append(f"<pre>{esc(report['line'])}</pre>")
    if report["details"]:
        parts.append(f"<pre>{esc(report['details'].rstrip())}</pre>")
    parts.append(f"<p>{esc(HINT)}</p></body></html>\n")
    return "\n".join(parts)


def error_app(report: FailureReport, allow: str = "", debug: bool = False) -> WSGIApplication:
    """A WSGI app answering every request with a 500 that shows ``report`` to the clients that
    may see it (``allow``: ``--debug-allow-ips``), and a plain 500 to the others. With
    ``debug`` and the exception captured in the report, the page is ``--debug``'s."""
    from simplewsgi.middleware.debugpeers import DetailsPolicy, plain_500

    policy = DetailsPolicy(allow)
    text = render_text(report).encode("utf-8")
    page = render_html(report).encode("utf-8")
    captured = report.get("debug") if debug else None

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not policy.allows(environ):
            return plain_500(start_response)
        if captured is not None:
            from simplewsgi.middleware.debugcapture import request_info
            from simplewsgi.middleware.debugpage import page as debug_page

            body, headers = debug_page(
                environ, captured, request_info(environ), heading=TITLE, hint=HINT
            )
            start_response(STATUS, headers)
            return [body]
        wants_html = "text/html" in environ.get("HTTP_ACCEPT", "")
        body, content_type = (page, "text/html") if wants_html else (text, "text/plain")
        start_response(
            STATUS,
            [
                ("Content-Type", f"{content_type}; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    return app
