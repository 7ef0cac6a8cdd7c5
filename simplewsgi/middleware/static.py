"""``--static /PREFIX=DIR``: files from disk in front of the app.

Rules of this module:
- Only GET and HEAD are answered from disk; every other method, and every URL that names no
  file, goes to the app. Mounts are tried longest prefix first (in the order given for equal
  prefixes); the first that has the file answers.
- Nothing outside DIR is ever opened. ``PATH_INFO`` is already percent-decoded, so the path is
  checked segment by segment after decoding, and the raw target (``RAW_URI``) for an encoded
  slash, which decoding hides. Refused: ``..`` and ``.`` segments (also as ``%2e%2e``), any
  segment starting with ``.`` but ``.well-known`` (``.env``, ``.git``), an encoded slash (``%2f``),
  a backslash (``\\``, ``%5c``), NUL and other control characters, ``:`` (a Windows drive, an
  NTFS stream), and empty segments (``//etc``: an absolute path). A path that passes is joined to
  DIR's real path and resolved; if symlinks take it outside DIR it is refused (a symlink inside
  DIR to a file inside DIR is fine). The resolved path is then opened one name at a time from
  DIR without following any symlink, so one swapped in after the check leads nowhere. Under a
  prefix such as ``/static`` a refused path is answered 404 here, whatever the app would say;
  under ``/`` it goes to the app, which shares that URL space (an API path may hold ``%2F``),
  but is still never looked up on disk.
- Fresh on every request: nothing is cached, so an edited, added or removed file is seen at
  once. The file is opened without following a last symlink and without blocking (a FIFO
  planted in DIR cannot hang a thread), then checked with ``fstat``: only regular files are
  served; a file we may not read is 403.
- A directory: ``DIR/sub/`` serves ``sub/index.html``; ``DIR/sub`` without the slash (DIR itself
  too) is redirected to the slash (302, relative) when it has an index.html; otherwise the app
  answers. There are no directory listings.
"""

from __future__ import annotations

import io
import os
import stat
from typing import TYPE_CHECKING, NamedTuple, Optional, Union
from urllib.parse import quote

from simplewsgi.middleware import STATIC_FILE
from simplewsgi.middleware.fileresponse import serve_file
from simplewsgi.middleware.prefix import PrefixError, path_under, url_prefix, wsgi_form

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

INDEX = "index.html"
SPEC_FORM = "expected /PREFIX=DIR, e.g. /static=./public"
ALLOWED_HIDDEN = frozenset({".well-known"})  # RFC 8615: meant to be served
_UNSAFE_CHARS = frozenset("\\:" + "".join(map(chr, range(0x20))) + "\x7f")
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_BENEATH = os.open in os.supports_dir_fd
NOT_FOUND = b"Not Found\n"
FORBIDDEN = b"Forbidden\n"


class StaticSpecError(ValueError):
    """A ``--static`` value of the wrong form, or whose DIR is not a directory."""


class Mount(NamedTuple):
    prefix: str  # "" for "/", else "/a/b" (prefix.url_prefix)
    directory: str  # absolute

    def __str__(self) -> str:
        return f"{self.prefix or '/'}={self.directory}"


def parse_mount(value: str, base: str) -> Mount:
    """``/PREFIX=DIR`` as a mount; a relative DIR (``~`` expanded) is relative to ``base``.
    Raises :class:`StaticSpecError` naming what is wrong."""
    prefix, equals, directory = value.partition("=")
    if not equals or not directory:
        raise StaticSpecError(f"{value!r}: {SPEC_FORM}")
    try:
        prefix = url_prefix(prefix)
    except PrefixError as error:
        raise StaticSpecError(f"{value!r}: the prefix {error}") from None
    path = os.path.abspath(os.path.join(base, os.path.expanduser(directory)))
    if not os.path.isdir(path):
        what = "is not a directory" if os.path.exists(path) else "does not exist"
        raise StaticSpecError(f"{value!r}: {path} {what}")
    return Mount(prefix, path)


def load_mount(spec: str) -> Mount:
    """A mount back from its ``str()`` (how ``ServeOptions`` carries it), without checking DIR:
    one removed since start-up only has no files to serve."""
    prefix, _, directory = spec.partition("=")
    return Mount(url_prefix(prefix), os.path.abspath(directory))


class _File(NamedTuple):
    file: io.FileIO  # open, regular
    info: os.stat_result  # its fstat
    real: str  # its real path


class _Directory:
    """What a path inside DIR names, when it is a directory."""


class _Refused(NamedTuple):
    status: str
    body: bytes


class _Redirect:
    """A directory asked for without its slash, which has an index.html."""


_Found = Union[_File, _Refused, _Redirect, None]  # None: nothing to serve, the app answers
REFUSED = _Refused("404 Not Found", NOT_FOUND)
DENIED = _Refused("403 Forbidden", FORBIDDEN)
REDIRECT = _Redirect()
DIRECTORY = _Directory()


def safe_segments(rest: str) -> Optional[list[str]]:
    """The segments of ``rest`` (``""`` or ``/...``, decoded) when it can name a file inside a
    directory, else None. A trailing ``/`` leaves a last empty segment (a directory asked for)."""
    if not rest:
        return []
    if rest[0] != "/":  # "GET *" under "/"
        return None
    segments = rest[1:].split("/")
    for index, segment in enumerate(segments):
        if not segment:
            if index == len(segments) - 1:
                continue  # the trailing slash
            return None
        if segment[0] == "." and segment not in ALLOWED_HIDDEN:
            return None
        if not _UNSAFE_CHARS.isdisjoint(segment):
            return None
    return segments


def has_encoded_slash(environ: WSGIEnvironment) -> bool:
    """Whether the raw target's path holds ``%2F``, which ``PATH_INFO`` shows as a plain ``/``."""
    raw = environ.get("RAW_URI")
    if not raw or "%" not in raw:
        return False
    path = raw.partition("?")[0]
    return "%2f" in path or "%2F" in path


class StaticFiles:
    """The WSGI layer over ``mounts`` (any order; tried longest prefix first)."""

    def __init__(self, app: WSGIApplication, mounts: Sequence[Mount]) -> None:
        self.app = app
        as_environ = [Mount(wsgi_form(mount.prefix), mount.directory) for mount in mounts]
        self.mounts = sorted(as_environ, key=lambda mount: -len(mount.prefix))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        encoded_slash: Optional[bool] = None
        for mount in self.mounts:
            rest = path_under(path, mount.prefix)
            if rest is None:
                continue
            if encoded_slash is None:
                encoded_slash = has_encoded_slash(environ)
            segments = None if encoded_slash else safe_segments(rest)
            if segments is None:
                if not mount.prefix:
                    break  # "/" shares its URL space with the app: let it answer
                return _answer(start_response, REFUSED)
            found = _find(mount.directory, segments)
            if found is None:
                continue
            if isinstance(found, _Refused):
                return _answer(start_response, found)
            if isinstance(found, _Redirect):
                environ[STATIC_FILE] = mount.directory
                return _redirect(environ, start_response)
            environ[STATIC_FILE] = found.real
            return serve_file(environ, start_response, found.file, found.info, found.real)
        return self.app(environ, start_response)


def _find(directory: str, segments: list[str]) -> _Found:
    """What ``segments`` (as the environ holds them) name inside ``directory``: an open file, a
    refusal, a redirect to add a slash, or None (nothing to serve here)."""
    dir_asked = bool(segments) and segments[-1] == ""  # DIR itself is [], without a slash
    try:  # the request's bytes are the file name's bytes
        names = [os.fsdecode(name.encode("latin-1")) for name in segments if name]
    except UnicodeDecodeError:  # not a name this file system can hold (Windows: not UTF-8)
        return None
    try:
        root = os.path.realpath(directory)
    except (OSError, ValueError):  # DIR itself is being replaced: nothing to serve from it
        return None
    found = _open_inside(root, names)
    if isinstance(found, _File) and dir_asked:
        found.file.close()  # "file/": a file is not a directory
        return None
    if not isinstance(found, _Directory):
        return found
    index = _open_inside(root, [*names, INDEX])
    if not isinstance(index, _File):
        return index if isinstance(index, _Refused) else None
    if dir_asked:
        return index
    index.file.close()
    return REDIRECT


def _open_inside(root: str, names: list[str]) -> Union[_Found, _Directory]:
    """Open ``root/names...`` if its real path is inside ``root`` (a real path) and it is a
    regular file; say so if it is a directory; None for anything else (missing, a FIFO...)."""
    try:
        real = os.path.realpath(os.path.join(root, *names))
    except (OSError, ValueError):  # a symlink loop, or a name swapped while it was resolved
        return None
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        return REFUSED  # a symlink out of DIR
    try:
        if stat.S_ISDIR(os.stat(real).st_mode):
            return DIRECTORY
        fd = _open_beneath(root, real)
    except PermissionError:
        return DENIED
    except (OSError, ValueError):  # missing, not a directory, a symlink swapped in, too long
        return None
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):  # checked on what was opened, not on the name
            return _File(io.FileIO(fd, "rb"), info, real)  # it owns fd from here
    except OSError:
        pass
    os.close(fd)
    return None


def _open_beneath(root: str, real: str) -> int:
    """Open ``real`` (a real path inside ``root``) one name at a time from ``root``, following
    no symlink: a directory swapped for a symlink between ``realpath`` and here (a race) makes
    the open fail instead of leading out of DIR. Where ``os.open`` takes no ``dir_fd``
    (Windows), the last name only is opened without following a symlink."""
    if not _BENEATH:
        return os.open(real, _OPEN_FLAGS)
    names = os.path.relpath(real, root).split(os.sep)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for name in names[:-1]:
            inner = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(names[-1], _OPEN_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)


def _answer(start_response: StartResponse, refusal: _Refused) -> Iterable[bytes]:
    start_response(refusal.status, [("Content-Type", "text/plain; charset=utf-8")])
    return [refusal.body]


def _redirect(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """302 to the same URL with a slash, relative (right behind any proxy or prefix)."""
    full = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    last = full.rpartition("/")[2]
    location = quote(last.encode("latin-1"), safe="!$&'()*+,;=:@~") + "/" if last else "./"
    query = environ.get("QUERY_STRING")
    if query:
        location += "?" + query
    start_response("302 Found", [("Location", location), ("Content-Length", "0")])
    return []
