"""The ``Content-Type`` of a file served by ``--static``.

Web assets are pinned here, not asked of the system: :mod:`mimetypes` also reads the machine's
registry (``/etc/mime.types``, the Windows registry), and Windows maps ``.js`` to
``text/plain``, on which a browser refuses to run an ES module. The types follow the IANA
registrations and the WHATWG specs (RFC 9239 for JavaScript, RFC 8259 for JSON, which has no
charset parameter); text types say UTF-8, the encoding of the web. Other files get what
:mod:`mimetypes` says (it reads the registry on its first guess), ``application/octet-stream``
when it has no idea; a compressed file (``.gz``) is served as itself, never with a
``Content-Encoding`` the browser would undo.
"""

from __future__ import annotations

import mimetypes
import os

UTF8 = "; charset=utf-8"
DEFAULT = "application/octet-stream"
PINNED = {
    ".html": "text/html" + UTF8,
    ".htm": "text/html" + UTF8,
    ".css": "text/css" + UTF8,
    ".js": "text/javascript" + UTF8,
    ".mjs": "text/javascript" + UTF8,
    ".cjs": "text/javascript" + UTF8,
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".txt": "text/plain" + UTF8,
    ".md": "text/markdown" + UTF8,
    ".csv": "text/csv" + UTF8,
    ".xml": "application/xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
}


def content_type(path: str) -> str:
    """The ``Content-Type`` for the file at ``path`` (its name decides, never its bytes)."""
    extension = os.path.splitext(path)[1].lower()
    pinned = PINNED.get(extension)
    if pinned is not None:
        return pinned
    guessed, encoding = mimetypes.guess_type(os.path.basename(path), strict=False)
    if guessed is None or encoding is not None:
        return DEFAULT
    return guessed
