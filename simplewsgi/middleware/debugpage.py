"""The ``--debug`` error page, rendered from :mod:`.debugcapture`'s data: HTML or plain text.

Rules of this module:
- Everything that comes from the app, the exception or the request is HTML-escaped, in text
  and in attributes; the page has no script at all, and its ``Content-Security-Policy`` forbids
  any (``default-src 'none'``), so even a mistake here cannot run code in the browser. Nothing
  on the page executes anything on the server either (no console, unlike werkzeug's).
- The app's frames are open; runs of simplewsgi's, the standard library's and libraries'
  frames are folded into one ``<details>`` each, which a click opens.
- ``SIMPLEWSGI_EDITOR_URL`` (``vscode://file/{path}:{line}``) makes each frame's place a link
  that opens the file in the editor; only ``{path}`` (percent-encoded) and ``{line}`` are
  replaced, and a ``javascript:``/``data:`` template is ignored.
- "Copy as curl" is a ``<pre>`` that a click selects whole (CSS ``user-select: all``).
"""

from __future__ import annotations

import html
import os
from typing import Any
from urllib.parse import quote

from simplewsgi.tracebacks import APP

EDITOR_ENV = "SIMPLEWSGI_EDITOR_URL"
STATUS = "500 Internal Server Error"
_UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:")
_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em;"
    "color:#1b1b1b}h1{color:#b00020;font-size:1.35em;word-break:break-word}"
    "h2{font-size:1.1em;margin-top:1.6em}pre,code{font:13px/1.4 ui-monospace,monospace}"
    "pre{background:#f6f6f6;padding:.6em .8em;overflow:auto;margin:.3em 0}"
    "details{margin:.4em 0;border-left:3px solid #ddd;padding-left:.6em}"
    "details.app{border-color:#b00020}summary{cursor:pointer}"
    ".cur{background:#ffe3e3;display:inline-block;min-width:100%}.ln{color:#888}"
    "table{border-collapse:collapse}td,th{text-align:left;vertical-align:top;"
    "padding:.15em .8em .15em 0}th{font-weight:600;white-space:nowrap}"
    ".curl{user-select:all;white-space:pre-wrap;word-break:break-all}"
    ".note{color:#555}.sentence{font-style:italic}"
)
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def headers(body: bytes, content_type: str) -> list[tuple[str, str]]:
    return [
        ("Content-Type", f"{content_type}; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]


def wants_html(environ: Any) -> bool:
    return "text/html" in str(environ.get("HTTP_ACCEPT", ""))


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def editor_link(path: str, line: int) -> str | None:
    template = os.environ.get(EDITOR_ENV, "").strip()
    if not template or not os.path.isabs(path):
        return None
    # Browsers drop tabs and line breaks inside a URL and leading controls and spaces:
    # "java\tscript:" is javascript:. A template holding any control character is refused.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in template):
        return None
    if template.lower().replace(" ", "").startswith(_UNSAFE_SCHEMES):
        return None
    return template.replace("{path}", quote(path, safe="/:\\")).replace("{line}", str(line))


def _place(frame: dict[str, Any]) -> str:
    path = str(frame["file"])
    shown = path
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        shown = path if relative.startswith(os.pardir) else relative
    place = f"<code>{_esc(shown)}:{_esc(frame['line'])}</code>"
    link = editor_link(path, int(frame["line"]))
    if link is not None:
        place = f'<a href="{_esc(link)}" title="open in the editor">{place}</a>'
    return f"{place} in <code>{_esc(frame['function'])}</code>"


def _source(frame: dict[str, Any]) -> str:
    rows = []
    for number, text in enumerate(frame["source"], start=int(frame["start"])):
        row = f'<span class="ln">{number:>5}</span>  {_esc(text)}'
        rows.append(f'<span class="cur">{row}</span>' if number == frame["line"] else row)
    return f"<pre>{chr(10).join(rows)}</pre>" if rows else ""


def _frame_html(frame: dict[str, Any]) -> str:
    parts = [_source(frame)]
    if frame["locals"]:
        rows = "".join(
            f"<tr><th>{_esc(name)}</th><td><code>{_esc(value)}</code></td></tr>"
            for name, value in frame["locals"]
        )
        parts.append(f"<table>{rows}</table>")
    return "".join(parts)


def _frames_html(frames: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if run:
            kinds = sorted({frame["kind"] for frame in run}, key=str)
            count = f"{len(run)} frame{'s' if len(run) > 1 else ''}"
            inner = "".join(f"<p>{_place(frame)}</p>{_frame_html(frame)}" for frame in run)
            out.append(
                f'<details class="folded"><summary>{count} of {_esc(" and ".join(kinds))}'
                f"</summary>{inner}</details>"
            )
            run.clear()

    for frame in frames:
        if "skipped" in frame:
            flush()
            out.append(f'<p class="note">... {_esc(frame["skipped"])} frames left out ...</p>')
        elif frame["kind"] == APP:
            flush()
            out.append(
                f'<details class="app" open><summary>{_place(frame)}</summary>'
                f"{_frame_html(frame)}</details>"
            )
        else:
            run.append(frame)
    flush()
    return out


def render_html(
    error: dict[str, Any], request: dict[str, Any], heading: str | None = None, hint: str = ""
) -> str:
    """The page: ``heading`` (default: the exception), the traceback, the request, curl."""
    title = heading or error["title"]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>',
        f'<meta name="referrer" content="no-referrer"><style>{_STYLE}</style></head><body>',
        f"<h1>{_esc(title)}</h1>",
    ]
    if heading:
        parts.append(f"<p><code>{_esc(error['title'])}</code></p>")
    if hint:
        parts.append(f"<p>{_esc(hint)}</p>")
    for item in error["chain"]:
        parts.append(f"<h2>{_esc(item['message'].splitlines()[-1])}</h2>")
        if item["message"].count("\n"):
            parts.append(f"<pre>{_esc(item['message'])}</pre>")
        parts += _frames_html(item["frames"])
        if item["sentence"]:
            parts.append(f'<p class="sentence">{_esc(item["sentence"])}</p>')
    parts.append("<h2>Request</h2><table>")
    for name in ("method", "path", "query"):
        parts.append(f"<tr><th>{name}</th><td><code>{_esc(request[name])}</code></td></tr>")
    parts.append("</table><h2>Headers</h2><table>")
    for name, value in request["headers"]:
        parts.append(f"<tr><th>{_esc(name)}</th><td><code>{_esc(value)}</code></td></tr>")
    parts.append('</table><h2>Copy as curl</h2><pre class="curl">')
    parts.append(f"{_esc(request['curl'])}</pre>")
    if request["body"]:
        size = "of unknown length" if request["body"] < 0 else f"{request['body']} bytes"
        parts.append(f'<p class="note">The request\'s body ({size}) is not in the command.</p>')
    parts.append(
        '<p class="note">Shown by <code>simplewsgi --debug</code> to loopback clients and '
        "those --debug-allow-ips names. Cookie and Authorization values are masked.</p>"
        "</body></html>\n"
    )
    return "\n".join(parts)


def render_text(
    error: dict[str, Any], request: dict[str, Any], heading: str | None = None, hint: str = ""
) -> str:
    """The same for clients that are not browsers: a traceback as Python writes one."""
    lines = [heading] if heading else []
    if hint:
        lines += ["", hint, ""]
    for item in error["chain"]:
        if item["frames"]:
            lines.append("Traceback (most recent call last):")
        for frame in item["frames"]:
            if "skipped" in frame:
                lines.append(f"  ... {frame['skipped']} frames left out ...")
                continue
            lines.append(f'  File "{frame["file"]}", line {frame["line"]}, in {frame["function"]}')
            index = int(frame["line"]) - int(frame["start"])
            if 0 <= index < len(frame["source"]) and frame["source"][index].strip():
                lines.append(f"    {frame['source'][index].strip()}")
        lines.append(item["message"])
        if item["sentence"]:
            lines += ["", item["sentence"], ""]
    lines += ["", f"{request['method']} {request['path']}", request["curl"], ""]
    return "\n".join(lines)


def page(
    environ: Any,
    error: dict[str, Any],
    request: dict[str, Any],
    heading: str | None = None,
    hint: str = "",
) -> tuple[bytes, list[tuple[str, str]]]:
    """(body, headers) for ``environ``'s client: HTML to a browser, else plain text."""
    if wants_html(environ):
        body = render_html(error, request, heading, hint).encode("utf-8", "replace")
        return body, headers(body, "text/html")
    body = render_text(error, request, heading, hint).encode("utf-8", "replace")
    return body, headers(body, "text/plain")
