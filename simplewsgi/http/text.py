"""Text the core writes that does not depend on the request: dates, and escaping for logs.

The Date header and log timestamps depend only on the current second, so each is rendered at
most once a second (:class:`PerSecond`) instead of once per request. Anything a client sent is
escaped with :data:`CONTROL_CHAR_ESCAPES` before it reaches a log.
"""

from __future__ import annotations

import time
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# C0 and C1 controls and DEL, escaped in anything a client sent before it reaches a log, so a
# request cannot forge log lines or drive the terminal.
CONTROL_CHAR_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


class PerSecond(Generic[T]):
    """Text that depends only on the current second, rendered at most once a second: the
    Date header and log timestamps would otherwise cost a time conversion per request."""

    __slots__ = ("_cache", "_render")

    def __init__(self, render: Callable[[int], T]) -> None:
        self._render = render
        self._cache: tuple[int, T] = (-1, render(0))  # one tuple: threads never see half of it

    def __call__(self) -> T:
        now = int(time.time())
        cache = self._cache
        if cache[0] != now:
            cache = self._cache = (now, self._render(now))
        return cache[1]


def imf_fixdate(now: int) -> str:
    """RFC 9110 §5.6.7: ``Sun, 06 Nov 1994 08:49:37 GMT`` (locale-independent)."""
    t = time.gmtime(now)
    return (
        f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def _common_log_time(now: int) -> str:
    """The log timestamp in local time, ``24/Nov/2026 21:49:28`` in any locale."""
    t = time.localtime(now)
    return (
        f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


http_date = PerSecond(imf_fixdate)
date_field = PerSecond(lambda now: f"Date: {imf_fixdate(now)}\r\n".encode("ascii"))
log_time = PerSecond(_common_log_time)
