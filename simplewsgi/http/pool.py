"""The server's threads: reused, each serving one connection at a time.

Reusing threads keeps thread creation (and the wait for a new thread to start) off the accept
loop for all but the first connections: that is what made one-request connections slower than
wsgiref. A thread with no work waits ``THREAD_IDLE_SECONDS`` for the next, then ends.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Optional

from simplewsgi.http.limits import THREAD_IDLE_SECONDS


class ThreadPool:
    """Runs ``serve(job)`` for each submitted job on a reused thread."""

    def __init__(self, serve: Callable[[Any], None], idle_seconds: float = THREAD_IDLE_SECONDS):
        self._serve = serve
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._jobs: queue.SimpleQueue[Optional[Any]] = queue.SimpleQueue()
        self._idle = 0  # threads waiting in _jobs.get()
        self._closed = False

    def submit(self, job: Any) -> None:
        """Hand ``job`` to an idle thread, or start one. Raises ``RuntimeError`` when no
        thread can be started (memory or process limits); the job is then not taken."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return
            thread = threading.Thread(target=self._run, args=(job,), daemon=True)
            self._threads.add(thread)
        try:
            thread.start()
        except RuntimeError:
            with self._lock:
                self._threads.discard(thread)  # never started: nothing to join
            raise

    def close(self) -> None:
        """Threads end after their current job; idle ones now."""
        with self._lock:
            self._closed = True
            for _ in range(self._idle):
                self._jobs.put(None)
            self._idle = 0

    def join(self, deadline: float) -> None:
        """Wait until every thread has ended, or ``deadline`` (one for all of them)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, job: Optional[Any]) -> None:
        try:
            while job is not None:
                self._serve(job)
                with self._lock:
                    if self._closed:
                        return
                    self._idle += 1
                try:
                    job = self._jobs.get(timeout=self._idle_seconds)
                except queue.Empty:
                    with self._lock:
                        try:  # a job may have been handed to us just as we timed out
                            job = self._jobs.get_nowait()
                        except queue.Empty:
                            self._idle -= 1
                            job = None
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
