"""A listening unix socket at a path (``--uds``), taken safely from whatever is there.

Rules, and why:

- A socket file nobody listens on (left by a server that was killed) is replaced: a restart
  must not need a manual ``rm``. A live one is refused, naming its holder. Anything else there
  (a regular file, a symbolic link, a directory) is never touched.
- Whether a socket file is live is asked by connecting to it, with a timeout: a hung server's
  full backlog must not hang our start-up.
- Two simplewsgi starting on one path at once must not both believe they won (one would serve
  on a file the other unlinked, reachable by nobody): the probe, the removal, the bind and
  ``listen()`` happen under an exclusive ``flock`` on the socket's directory.
- The path is bound as given (a short relative path works in a deep directory; the kernel's
  limit is about 107 bytes), and remembered absolute with its inode, so that the file is
  removed on exit only while it is still ours.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from typing import TYPE_CHECKING

from simplewsgi.http.limits import LISTEN_BACKLOG
from simplewsgi.portholder import unix_socket_holder

if TYPE_CHECKING:
    from collections.abc import Iterator

PROBE_TIMEOUT = 1.0  # a live server answers a connect() at once, even when busy
PICK_ANOTHER = "pick another --uds path"


class UnixSocketError(OSError):
    """The unix socket cannot be made at that path; the message says why and what to do."""


class UnixSocketInUse(UnixSocketError):
    """A server is listening on that path already."""


def bind_unix(path: str) -> tuple[socket.socket, int]:
    """A listening unix socket at ``path``, and the inode of its file."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _directory_locked(path):
            try:
                sock.bind(path)
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise _cannot(path, error) from None
                _remove_stale(path)
                try:
                    sock.bind(path)
                except OSError as again:
                    raise _cannot(path, again) from None
            sock.listen(LISTEN_BACKLOG)
        inode = os.stat(path).st_ino
    except BaseException:
        sock.close()
        raise
    return sock, inode


@contextlib.contextmanager
def _directory_locked(path: str) -> Iterator[None]:
    """An exclusive lock on ``path``'s directory for the length of the block (where the
    platform has ``flock``; elsewhere, none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    except OSError:  # a missing or unreadable directory: bind() will say which
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove_stale(path: str) -> None:
    """Remove a unix socket file nobody listens on; refuse anything else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return  # gone meanwhile: bind again
    if not stat.S_ISSOCK(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "a file that is not a socket"
        raise _cannot(
            path, OSError(errno.EEXIST, f"{what} is there"), f"remove it or {PICK_ANOTHER}"
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT)
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # a socket file without a listener: stale
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        except FileNotFoundError:
            return
        except PermissionError as error:
            owner = os.lstat(path).st_uid
            hint = f"it belongs to user id {owner}; remove it or {PICK_ANOTHER}"
            raise _cannot(path, error, hint) from None
        except OSError:  # a timeout: a live server too busy to answer
            pass
    holder = unix_socket_holder(os.path.abspath(path))
    text = f"unix socket {path} is in use" + (f" by {holder}" if holder else "")
    raise UnixSocketInUse(errno.EADDRINUSE, f"{text}; stop that server or {PICK_ANOTHER}")


def _cannot(path: str, error: OSError, hint: str = "") -> UnixSocketError:
    if not hint and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = f"no permission to create it in {os.path.dirname(os.path.abspath(path))}"
    text = f"cannot listen on unix socket {path}: {error.strerror or error}"
    return UnixSocketError(error.errno, f"{text}; {hint}" if hint else text)
