"""Every limit and deadline of the server core, in one place, each with why it has its value.

Limits bound what a client can make the server hold (bytes, fields, connections); deadlines
bound how long a client can make it wait. None of them bounds the application: a slow app is
never cut, only a slow or silent client. A leaf module: the layers above read these without
importing the server.
"""

from __future__ import annotations

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

# -- a request head (RFC 9112 §2-5): reading stops at each limit instead of buffering ----------

# A request line longer than this gets 414; wsgiref and http.server use the same 64 KiB.
MAX_REQUEST_LINE = 65536
# One header field line; http.server's _MAXLINE.
MAX_HEADER_LINE = 65536
# Number of header fields; http.client's _MAXHEADERS.
MAX_HEADER_COUNT = 100
# All header field lines of one request together (431 beyond).
MAX_HEADER_BYTES = 256 * 1024
# Empty lines tolerated before a request line (RFC 9112 §2.2 asks for "at least one").
MAX_LEADING_EMPTY_LINES = 8

# -- a request body (RFC 9112 §6-7) -------------------------------------------------------------

# A chunk-size line with extensions (RFC 9112 §7.1.1); extensions are ignored.
MAX_CHUNK_LINE = 4096
# Trailer section of a chunked body (RFC 9112 §7.1.2); checked, then discarded.
MAX_TRAILER_BYTES = 64 * 1024
# Unread request body the server reads and discards to keep a connection alive; beyond it,
# closing is cheaper than draining.
MAX_DRAIN_BYTES = 1024 * 1024

# -- deadlines on the client (seconds) ----------------------------------------------------------

# A request head must arrive completely within this from its first byte: not per byte, so a
# client sending a byte a second cannot hold a connection (it gets 408). A new connection may
# also stay silent this long (a browser's preconnect). Ample for a browser on a slow network.
HEADER_TIMEOUT = 10.0
# An idle keep-alive connection is closed after this (uvicorn's and Node's default): browsers
# reconnect at once, and an idle connection holds a thread.
KEEP_ALIVE_TIMEOUT = 5.0
# Any other single wait on the client: a response it does not read (the send deadline), a body
# it stopped sending.
IO_TIMEOUT = 30.0
# After the response, the unread rest of a request body (at most MAX_DRAIN_BYTES) must arrive
# within this in all, or the connection is closed: the server's own drain must not let a client
# hold a thread with a byte every IO_TIMEOUT.
DRAIN_TIMEOUT = 5.0
# Responses are sent in slices of this size, each waiting at most IO_TIMEOUT: a client reading
# steadily at more than SEND_SLICE / IO_TIMEOUT (about 9 KB/s) is never cut, however large a
# block the app returned.
SEND_SLICE = 256 * 1024
# A connection's read buffer: a head with a body of up to about this size comes in one recv
# (io's default, 8 KiB, took two for a 10 KiB form post). Only what arrives is written to it,
# so an idle connection's pages are never touched.
READ_BUFFER = 64 * 1024

# -- connections -------------------------------------------------------------------------------

# Connections the kernel completes before the accept loop takes them (it caps this at
# net.core.somaxconn). wsgiref's 5 overflowed with 10 clients (p99 367 ms measured); 128 with
# a burst of 2,000 connects (clients waited a second for SYN retries). gunicorn's and uvicorn's
# default too.
LISTEN_BACKLOG = 2048
# Connections served at once (each holds a thread while it is open); beyond it a new
# connection is answered 503 with Retry-After and closed. A dev server sees a browser's
# handful, a load tool or a test suite hundreds; 2,000 idle threads cost about 50 MiB.
DEFAULT_MAX_CONNECTIONS = 2048
# File descriptors kept for the process itself (the listening socket, logs, imports); of the
# rest, half are for connections and half for what the app opens per request (a file, a
# database socket, a pipe), so a busy app hits the connection bound (503) before EMFILE (500).
RESERVED_FDS = 64
# How long 503 Retry-After tells a client refused at the connection bound to wait.
RETRY_AFTER = 1
# An idle pool thread waits this long for a new connection before it ends: long enough to be
# reused by a browser's next burst, short enough that a crowd's threads go soon after it.
THREAD_IDLE_SECONDS = 10.0
# How long a 503 for a connection no thread could take may block the accept loop.
REFUSAL_SEND_TIMEOUT = 1.0
# After accept() fails for want of file descriptors (EMFILE, ENFILE), the accept loop pauses
# this long instead of spinning on a listening socket that stays readable.
ACCEPT_BACKOFF = 0.1

# -- stopping ----------------------------------------------------------------------------------

# How long server_close() lets in-flight requests finish before cutting their connections.
GRACEFUL_TIMEOUT = 5.0
# How long server_close() waits for the first request on a connection accepted just before.
FIRST_REQUEST_GRACE = 0.5
# How often server_close() looks whether waiting connections are due to be closed.
STOP_POLL = 0.01
# After the graceful timeout, how long server_close() waits for the threads whose
# connections it cut (all together, not each).
CUT_JOIN_TIMEOUT = 1.0

# -- logging -----------------------------------------------------------------------------------

# A failure at the edge of a limit (no thread, no file descriptor) comes and goes; its start is
# said at most once in this many seconds.
TROUBLE_LOG_INTERVAL = 30.0
# How much of a refused request line the log shows.
MAX_LOGGED_LINE = 200


def default_max_connections() -> int:
    """:data:`DEFAULT_MAX_CONNECTIONS`, lowered to fit this process's file-descriptor limit
    (1,024 by default on Linux, 256 on macOS: 480 and 96 connections there)."""
    if resource is None:  # pragma: no cover - Windows: no such limit
        return DEFAULT_MAX_CONNECTIONS
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # pragma: no cover
        return DEFAULT_MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    # Half of what is left: each connection's socket, and one descriptor per request for the
    # app (a file, a database socket, a subprocess pipe).
    return max(1, min(DEFAULT_MAX_CONNECTIONS, (soft - RESERVED_FDS) // 2))
