"""URL path prefixes: ``--root-path``, the ``/PREFIX`` of ``--static``, ``X-Forwarded-Prefix``.

A prefix is compared with ``PATH_INFO``, which the server has already percent-decoded (PEP 3333),
so it is written decoded too: ``/my app``, not ``/my%20app`` (a ``%`` is refused rather than
silently never matching). It starts with ``/``, has no empty, ``.`` or ``..`` segment, and holds
no ``?``, ``#``, backslash or control character. A trailing ``/`` is dropped, and ``/`` alone is
the empty prefix. A prefix matches whole segments only: ``/static`` matches ``/static`` and
``/static/app.js``, never ``/staticfiles``. The environ holds paths as bytes decoded as
latin-1 (PEP 3333), so a prefix typed as text is put in that form (:func:`wsgi_form`) before it
is compared or put into ``SCRIPT_NAME``: ``/café`` matches the request ``/caf%C3%A9``.
"""

from __future__ import annotations

from typing import Optional

_FORBIDDEN = frozenset("?#%\\" + "".join(map(chr, range(0x20))) + "\x7f")


class PrefixError(ValueError):
    """A prefix of the wrong form; ``str()`` names the value and the form expected."""


def url_prefix(value: str) -> str:
    """``value`` as a prefix to match ``PATH_INFO`` against: ``""`` for ``/``, else ``/a/b``."""
    if not value.startswith("/"):
        raise PrefixError(f"{value!r} must start with '/', e.g. /static")
    bad = sorted(set(value) & _FORBIDDEN)
    if bad:
        shown = ", ".join(repr(char) for char in bad)
        hint = " (write the path decoded, e.g. '/my app')" if "%" in bad else ""
        raise PrefixError(f"{value!r} may not contain {shown}{hint}")
    stripped = value.rstrip("/")
    if any(segment in ("", ".", "..") for segment in stripped.split("/")[1:]):
        raise PrefixError(f"{value!r} has an empty, '.' or '..' segment")
    return stripped


def path_under(path: str, prefix: str) -> Optional[str]:
    """The rest of ``path`` after ``prefix`` (``""`` or ``/...``), or None when it is not under
    it; ``prefix`` is one :func:`url_prefix` returned."""
    if not prefix:
        return path
    if path.startswith(prefix):
        rest = path[len(prefix) :]
        if not rest or rest[0] == "/":
            return rest
    return None


def wsgi_form(prefix: str) -> str:
    """``prefix`` as text typed by a user -> as the environ holds it: its UTF-8 bytes (undecodable
    bytes of a command-line argument kept as they were) read as latin-1."""
    return prefix.encode("utf-8", "surrogateescape").decode("latin-1")
