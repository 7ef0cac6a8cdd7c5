"""What the ``--debug`` page shows, captured as plain data: an exception and a request.

Rules of this module:
- :func:`capture` turns an exception (and the exceptions it was raised from or during) into
  dicts, lists and strings only, so that a reloader worker that failed to import the app can
  send it to its supervisor as JSON and the worker serving the error page can show it.
- Every frame has its source lines around the current one; the app's frames
  (:func:`simplewsgi.tracebacks.frame_kind`) also have their local variables, each as a
  ``repr`` cut to :data:`REPR_MAX` characters. A ``repr`` that raises is shown as such; it never
  breaks the page. Sizes are bounded (frames, variables, characters), a deep recursion too.
- :func:`request_info` reads the request as the client sent it (the environ before the layers
  rewrote it), with the values of ``Cookie``, ``Authorization`` and ``Proxy-Authorization``
  masked: the page and its curl command get pasted into chats and issues, and a session
  cookie or a token in them is a stolen login. Cookie names and the auth scheme stay visible.
  The same values are masked in the variables (:func:`secrets`): the app's ``environ`` holds
  them too.
- Nothing here executes anything it reads; rendering is :mod:`.debugpage`'s.
"""

from __future__ import annotations

import linecache
import reprlib
import shlex
import traceback
import types
from typing import TYPE_CHECKING, Any

from simplewsgi.tracebacks import APP, chain, frame_kind

if TYPE_CHECKING:
    from collections.abc import Mapping

CONTEXT_LINES = 4  # source lines shown before and after each frame's current one
REPR_MAX = 300  # characters of one variable's repr
LOCALS_MAX = 40  # variables shown per frame
FRAMES_MAX = 60  # frames kept per exception: the first ones and the last ones
FRAMES_HEAD = 10
CHAIN_MAX = 8
MASK = "[masked]"
MASKED_HEADERS = ("Cookie", "Authorization", "Proxy-Authorization")


class _Repr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = self.maxlong = REPR_MAX
        self.maxlist = self.maxtuple = self.maxset = self.maxdict = 12

    def repr_bytes(self, x: bytes, level: int) -> str:
        """Cut before repr(): 50 MB of bytes would make 200 MB of text first."""
        text = repr(x[: self.maxstring])
        return text if len(x) <= self.maxstring else text + "..."

    repr_bytearray = repr_bytes

    def repr_instance(self, x: object, level: int) -> str:
        try:
            text = repr(x)
        except Exception as error:
            return f"<repr() raised {type(error).__name__}>"
        if len(text) > self.maxother:
            return text[: self.maxother - 3] + "..."
        return text


_repr = _Repr()


_SECRET_KEYS = ("HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_PROXY_AUTHORIZATION")


def secrets(environ: Mapping[str, Any]) -> frozenset[str]:
    """The values :data:`MASKED_HEADERS` carry in ``environ``, whole and cookie by cookie:
    masked wherever they show up in a variable (the app's own ``environ``, a token it read)."""
    found: set[str] = set()
    for key in _SECRET_KEYS:
        value = environ.get(key)
        if isinstance(value, str) and value.strip():
            found.add(value)
            scheme, _, token = value.strip().partition(" ")
            found.add(token)
            if scheme.lower() == "basic":  # what the app decodes: "user:password", the password
                credentials = _basic(token)
                found.update((credentials, credentials.partition(":")[2]))
            if key == "HTTP_COOKIE":
                found.update(part.partition("=")[2].strip() for part in value.split(";"))
    return frozenset(value for value in found if len(value) >= 3)


def _basic(token: str) -> str:
    import base64
    import binascii

    try:
        return base64.b64decode(token.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def safe_repr(value: object, hidden: frozenset[str] = frozenset()) -> str:
    """``repr(value)``, bounded by :data:`REPR_MAX`, the ``hidden`` values masked; never
    raises."""
    try:
        if hidden and isinstance(value, str) and value in hidden:
            return repr(MASK)
        if hidden and isinstance(value, dict) and any(key in value for key in _SECRET_KEYS):
            value = {key: MASK if key in _SECRET_KEYS else item for key, item in value.items()}
        text = _repr.repr(value)
    except Exception as error:
        return f"<repr() raised {type(error).__name__}>"
    if not isinstance(text, str):
        return "<repr() returned no string>"
    for secret in sorted(hidden, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text if len(text) <= REPR_MAX else text[: REPR_MAX - 3] + "..."


def _source(filename: str, lineno: int) -> tuple[int, list[str]]:
    start = max(lineno - CONTEXT_LINES, 1)
    lines = [linecache.getline(filename, n).rstrip("\r\n") for n in range(start, lineno + 5)]
    while lines and not lines[-1]:
        lines.pop()
    return start, lines


def _locals(frame: types.FrameType, function: str, hidden: frozenset[str]) -> list[list[str]]:
    shown: list[list[str]] = []
    try:
        items = list(frame.f_locals.items())
    except Exception:
        return shown
    for name, value in items:
        if function == "<module>" and (
            name.startswith("__") or isinstance(value, types.ModuleType)
        ):
            continue  # a module's imports and dunders: noise
        if len(shown) == LOCALS_MAX:
            shown.append(["...", f"{len(items) - LOCALS_MAX} more"])
            break
        shown.append([str(name), safe_repr(value, hidden)])
    return shown


def _frame(
    filename: str, lineno: int, function: str, frame: Any, hidden: frozenset[str] = frozenset()
) -> dict[str, Any]:
    kind = frame_kind(filename)
    start, source = _source(filename, lineno)
    return {
        "file": filename,
        "line": lineno,
        "function": function,
        "kind": kind,
        "start": start,
        "source": source,
        "locals": _locals(frame, function, hidden) if kind == APP and frame is not None else [],
    }


def _frames(tb: types.TracebackType | None, hidden: frozenset[str]) -> list[dict[str, Any]]:
    walked: list[tuple[types.FrameType, int] | None] = list(traceback.walk_tb(tb))
    skipped = max(len(walked) - FRAMES_MAX, 0)
    if skipped:  # a deep recursion: its start and its end
        walked = [*walked[:FRAMES_HEAD], None, *walked[FRAMES_HEAD + skipped :]]
    frames: list[dict[str, Any]] = []
    for item in walked:
        if item is None:
            frames.append({"skipped": skipped})
            continue
        frame, lineno = item
        code = frame.f_code
        frames.append(_frame(code.co_filename, lineno, code.co_name, frame, hidden))
    return frames


def _message(exc: BaseException) -> str:
    try:
        lines = traceback.format_exception_only(type(exc), exc)
    except Exception:
        return f"{type(exc).__name__}: <str() raised>"
    return "".join(lines).rstrip("\n")


def capture(exc: BaseException, hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``exc`` as data: ``{"title": ..., "chain": [{"message", "frames", "sentence"}...]}``,
    oldest exception first (Python's order); ``hidden`` values (:func:`secrets`) masked in the
    variables."""
    links = chain(exc)[-CHAIN_MAX:]
    items: list[dict[str, Any]] = []
    for item, sentence in links:
        frames = _frames(item.__traceback__, hidden)
        if isinstance(item, SyntaxError) and item.filename and item.lineno:
            # The file that does not compile is no frame of the traceback: show it as one.
            frames.append(_frame(item.filename, item.lineno, "(does not compile)", None))
        items.append({"message": _message(item), "frames": frames, "sentence": sentence.strip()})
    # The last line of the newest: "ValueError: bad" (a SyntaxError's starts with its place).
    last = str(items[-1]["message"]).splitlines()
    return {"title": last[-1].strip() if last else type(exc).__name__, "chain": items}


def _mask(name: str, value: str) -> str:
    if name == "Cookie":
        pairs = [part.strip().partition("=") for part in value.split(";") if part.strip()]
        return "; ".join(f"{key}={MASK}" if eq else MASK for key, eq, _ in pairs)
    scheme, space, _ = value.strip().partition(" ")
    return f"{scheme} {MASK}" if space else MASK


def request_info(environ: Mapping[str, Any]) -> dict[str, Any]:
    """The request as the client sent it, sensitive header values masked, and its curl."""
    headers: list[list[str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        text = str(value)
        if not text and key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue  # the server's empty defaults, not the client's
        headers.append([name, _mask(name, text) if name in MASKED_HEADERS else text])
    method = str(environ.get("REQUEST_METHOD", "GET"))
    target = str(environ.get("RAW_URI") or _target(environ))
    path, _, query = target.partition("?")
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = str(environ.get("HTTP_HOST") or _server_host(environ))
    url = f"{scheme}://{host}{target}" if target.startswith("/") else target
    length = str(environ.get("CONTENT_LENGTH") or "")
    body = int(length) if length.isdigit() else (-1 if "HTTP_TRANSFER_ENCODING" in environ else 0)
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
        "curl": curl(method, url, headers, host),
        "body": body,  # bytes of body not in the curl command (-1: chunked, unknown)
    }


def _target(environ: Mapping[str, Any]) -> str:
    from urllib.parse import quote

    path = quote(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")))
    query = str(environ.get("QUERY_STRING", ""))
    return f"{path}?{query}" if query else path


def _server_host(environ: Mapping[str, Any]) -> str:
    return f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"


def curl(method: str, url: str, headers: list[list[str]], host: str) -> str:
    """A shell command repeating the request (its body left out)."""
    words = ["curl", "-i"]
    if method == "HEAD":
        words.append("-I")
    elif method != "GET":
        words += ["-X", method]
    words.append(url)
    for name, value in headers:
        if name in ("Content-Length", "Transfer-Encoding") or (name == "Host" and value == host):
            continue
        words += ["-H", f"{name}: {value}"]
    return " ".join(shlex.quote(word) for word in words)
