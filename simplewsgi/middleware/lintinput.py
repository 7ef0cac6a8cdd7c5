"""``--lint``'s observers of the streams the server gives the app (``wsgi.input``,
``wsgi.errors``) and of the ``wsgi.*`` keys the app may not change.

Rules of this module:
- An observer forwards every call, with its arguments, to the server's stream and returns
  what it returned; anything else (``fileno``, ``readinto`` when present) passes through by
  ``__getattr__``, and what the stream lacks is missing from the observer too (werkzeug looks
  for ``readinto``); dunder names are not forwarded, so that ``copy.copy`` copies the
  observer, not the stream's state. Checks run before the call, through the exchange's guarded
  ``check``.
- PEP 3333: "The application should not attempt to read more data than is specified by the
  CONTENT_LENGTH variable"; a missing CONTENT_LENGTH means no body (a server need not answer
  a read of it with EOF: wsgiref waits for the client). ``readline()``'s size argument is not
  a complaint: PEP 3333 says servers should support it, and the cgi module relied on it.
- The app may change the environ as it likes (PEP 3333), replace ``wsgi.input`` with a buffer
  or ``wsgi.url_scheme`` as a proxy fix does, or take the optional ``wsgi.file_wrapper`` away
  from what it calls; what it may not is delete the ``wsgi.*`` keys PEP 3333 requires or
  change those that describe the server (version, threading, run once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from simplewsgi.middleware.lintrules import Complaint, kind, shown

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _typeshed.wsgi import WSGIEnvironment

Check = Callable[..., None]
# The keys PEP 3333 requires in every environ; the optional ones (wsgi.file_wrapper, a
# server's extensions) a layer may take away from what it calls.
REQUIRED = (
    "wsgi.version",
    "wsgi.url_scheme",
    "wsgi.input",
    "wsgi.errors",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
)
# The keys that describe the server: the same for every layer and the app.
SERVER_FACTS = ("wsgi.version", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once")
_FIX_READ = "read at most CONTENT_LENGTH bytes (a server may wait for bytes that never come)"


class _Observer:
    """A stream seen through: what is not checked goes to the stream itself."""

    def __init__(self, stream: Any, check: Check) -> None:
        self._stream = stream
        self._check = check

    def __getattr__(self, name: str) -> Any:
        if name == "_stream" or name.startswith("__"):  # copy.copy's probes: ours, not its
            raise AttributeError(name)
        return getattr(self._stream, name)


class InputObserver(_Observer):
    """``wsgi.input`` observed: ``length`` is CONTENT_LENGTH (0 when absent), None for a
    chunked body (read to its end: the only way)."""

    def __init__(self, stream: Any, length: Optional[int], check: Check) -> None:
        super().__init__(stream, check)
        self._length = length
        self._left = length

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self._check(self._asked, "read", args, kwargs)
        return self._took(self._stream.read(*args, **kwargs))

    def readline(self, *args: Any, **kwargs: Any) -> Any:
        self._check(self._asked, "readline", args, kwargs)
        return self._took(self._stream.readline(*args, **kwargs))

    def readlines(self, *args: Any, **kwargs: Any) -> Any:
        self._check(self._asked, "readlines", args, kwargs)
        lines = self._stream.readlines(*args, **kwargs)
        for line in lines if isinstance(lines, list) else ():
            self._took(line)
        if not args and not kwargs:
            self._check(self._to_end, "readlines()")
        return lines

    def __iter__(self) -> Iterator[Any]:
        self._check(self._asked, "iteration", (), {})
        for line in self._stream:
            yield self._took(line)
        self._check(self._to_end, "a for loop over it")

    def close(self) -> Any:
        self._check(_closed, "wsgi.input")
        return self._stream.close()

    def _took(self, data: Any) -> Any:
        if self._left is not None and type(data) is bytes:
            self._left = max(self._left - len(data), 0)
        return data

    def _asked(self, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Complaint]:
        left = self._left
        if left is None:
            return []
        size = args[0] if args else kwargs.get("size", -1)
        if size == 0:
            return []
        if self._length == 0:
            return [
                Complaint(
                    "input-no-body",
                    f"wsgi.input was read ({call}) though the request has no body "
                    "(CONTENT_LENGTH is absent or 0); PEP 3333: check CONTENT_LENGTH first, "
                    "a server need not answer the read",
                )
            ]
        whole = size is None or (type(size) is int and size < 0) or call != "read"
        if (left == 0 and call in ("read", "readline")) or (not whole and size > left):
            asked = f"read({shown(size)})" if call == "read" and not whole else f"{call}()"
            return [
                Complaint(
                    "input-beyond",
                    f"wsgi.input.{asked} asked for more than the {left} bytes left of "
                    f"CONTENT_LENGTH {self._length}; PEP 3333: {_FIX_READ}",
                )
            ]
        return []

    def _to_end(self, how: str) -> list[Complaint]:
        if not self._length:
            return []
        return [
            Complaint(
                "input-to-end",
                f"wsgi.input was read to its end by {how}, one read past CONTENT_LENGTH "
                f"{self._length}; PEP 3333: {_FIX_READ}, then split the lines",
            )
        ]


class ErrorsObserver(_Observer):
    """``wsgi.errors`` observed: text only, never closed."""

    def write(self, text: Any) -> Any:
        self._check(_errors_text, text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> Any:
        lines = list(lines)
        for line in lines:
            self._check(_errors_text, line)
        return self._stream.writelines(lines)

    def close(self) -> Any:
        self._check(_closed, "wsgi.errors")
        return self._stream.close()


def _errors_text(text: object) -> list[Complaint]:
    if type(text) is str:
        return []
    fix = ": decode it first" if isinstance(text, (bytes, bytearray)) else ""
    return [
        Complaint(
            "errors-type",
            f"wsgi.errors.write() got {kind(text)} ({shown(text)}); PEP 3333 makes it a text "
            f"stream: write str{fix}",
        )
    ]


def _closed(name: str) -> list[Complaint]:
    return [
        Complaint(
            f"{name.replace('.', '-')}-close",
            f"the application called {name}.close(); the stream is the server's, which "
            "closes it: PEP 3333 has no close() on it",
        )
    ]


def wsgi_keys_changed(environ: WSGIEnvironment, before: dict[str, Any]) -> list[Complaint]:
    """What the app did to the ``wsgi.*`` keys it was given (``before``)."""
    found = []
    for key, value in before.items():
        if key not in environ and key in REQUIRED:
            found.append(
                Complaint(
                    "environ-wsgi",
                    f"the application deleted environ[{key!r}]; the wsgi.* keys are the "
                    "server's, which PEP 3333 requires: leave them (copy the environ to "
                    "change it for a sub-application)",
                )
            )
        elif key in SERVER_FACTS and environ[key] is not value and environ[key] != value:
            found.append(
                Complaint(
                    "environ-wsgi",
                    f"the application changed environ[{key!r}] from {shown(value)} to "
                    f"{shown(environ[key])}; it describes the server: leave it as it is",
                )
            )
    scheme = environ.get("wsgi.url_scheme")
    if "wsgi.url_scheme" in before and scheme not in ("http", "https"):
        found.append(
            Complaint(
                "environ-url-scheme",
                f"the application set environ['wsgi.url_scheme'] to {shown(scheme)}; PEP 3333: "
                "'http' or 'https'",
            )
        )
    stream = environ.get("wsgi.input")
    if stream is not None and not all(
        hasattr(stream, name) for name in ("read", "readline", "readlines", "__iter__")
    ):
        found.append(
            Complaint(
                "environ-input",
                f"the application replaced wsgi.input with {kind(stream)}, which lacks "
                "read(), readline(), readlines() or iteration that PEP 3333 requires",
            )
        )
    return found
