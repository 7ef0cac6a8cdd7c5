"""The exit statuses of the ``simplewsgi`` command, in one table.

The CLI exits with these; the man page's EXIT STATUS section is generated from :data:`TABLE`,
and a test checks that the README's table says the same. The reloader's workers have statuses
of their own, which only the supervisor reads (:mod:`simplewsgi.reload.messages`).
"""

from __future__ import annotations

OK = 0
BUG = 1
USAGE = 2
APP_ERROR = 3
CANNOT_LISTEN = 4
SIGNALLED = 128  # + the signal's number, for a stop signal before serving started
INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl+C
HANGUP = 129  # 128 + SIGHUP
TERMINATED = 143  # 128 + SIGTERM

TABLE: tuple[tuple[int, str], ...] = (
    (OK, "stopped by Ctrl+C, SIGTERM or SIGHUP after in-flight requests finished"),
    (BUG, "an unexpected error (a bug: the traceback is printed)"),
    (
        USAGE,
        "bad option or argument, including an APP string of the wrong form, a certificate or "
        "key that cannot be used, a missing optional extra",
    ),
    (APP_ERROR, "the APP could not be imported, is not callable, or its factory raised"),
    (
        CANNOT_LISTEN,
        "the address is in use (the message names the process holding it), not ours to bind, "
        "or does not resolve",
    ),
    (HANGUP, "SIGHUP (the terminal closed) before serving started"),
    (
        INTERRUPTED,
        "a second stop signal during a graceful stop (exit at once), or Ctrl+C before serving "
        "started",
    ),
    (TERMINATED, "SIGTERM before serving started"),
)
