"""The WSGI environ of one request (PEP 3333, CGI's variables), built from small values.

Rules of this module:
- The server's base environ (what every request shares) is copied once per request, then the
  request's own keys are set; the handler's ``get_environ`` calls :func:`request_environ` and
  stays the hook subclasses override.
- Header names map to CGI keys through a bounded cache (apps and clients send the same names
  every time); a name with ``_`` is dropped, since it would collide with its ``-`` twin once
  mapped (a header-spoofing vector).
- Repeated fields are joined as wsgiref does (``,``; cookies ``; ``, RFC 6265 §5.4); the
  authority of an absolute-form target replaces ``Host`` (RFC 9112 §3.2.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional
from urllib.parse import unquote

from simplewsgi.http.parsing import split_absolute_form

# Header name -> CGI environ key (None: dropped). Bounded so hostile clients cannot grow it.
_CGI_KEYS: dict[str, Optional[str]] = {}
_CGI_KEYS_MAX = 1024


def cgi_key(name: str) -> Optional[str]:
    """``Content-Type`` -> ``CONTENT_TYPE``, ``X-Foo`` -> ``HTTP_X_FOO``; None for a name
    with ``_``."""
    key = _CGI_KEYS.get(name)
    if key is None and name not in _CGI_KEYS:
        if "_" in name:
            key = None
        else:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
        if len(_CGI_KEYS) < _CGI_KEYS_MAX:
            _CGI_KEYS[name] = key
    return key


def request_environ(
    base: dict[str, Any],
    method: str,
    target: str,
    version: str,
    client_address: Any,
    fields: Iterable[tuple[str, str]],
    length: Optional[int],
) -> dict[str, Any]:
    """A new environ: ``base`` (copied) with the request's keys; ``length`` is the body length
    the framing settled on (given to the app when it sent a Content-Length)."""
    env = base.copy()
    env["SERVER_PROTOCOL"] = version
    env["REQUEST_METHOD"] = method
    if target[0] != "/" and "://" in target:
        # Absolute form (RFC 9112 §3.2.2): its authority replaces the Host header.
        env["HTTP_HOST"], target = split_absolute_form(target)
    # The target as sent (werkzeug's dev server and gunicorn give it too): PATH_INFO is
    # decoded, so only this shows an encoded slash (%2F) for what it is.
    env["RAW_URI"] = env["REQUEST_URI"] = target
    path, _, query = target.partition("?")
    if "#" in path:
        path = path.partition("#")[0]
    env["PATH_INFO"] = unquote(path, "latin-1") if "%" in path else path
    env["QUERY_STRING"] = query
    if isinstance(client_address, tuple):
        env["REMOTE_ADDR"] = client_address[0]
        env["REMOTE_PORT"] = str(client_address[1])
    else:  # a unix socket's peer has no address; CGI still wants the variable
        env["REMOTE_ADDR"] = ""
    headers: dict[str, str] = {}
    keys = _CGI_KEYS
    for name, value in fields:
        key = keys.get(name) or cgi_key(name)
        if key is None:
            continue
        if key in headers:
            headers[key] += ("; " if key == "HTTP_COOKIE" else ",") + value
        else:
            headers[key] = value
    if "HTTP_HOST" in env:
        headers.pop("HTTP_HOST", None)
    if length is not None and "CONTENT_LENGTH" in headers:
        # "3, 3" or two equal headers were accepted as one length: give the app that number.
        headers["CONTENT_LENGTH"] = str(length)
    env.update(headers)
    return env
