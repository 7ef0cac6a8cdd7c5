"""The server's threads: reused, each serving one connection at a time, started off the accept
loop.

Reusing threads keeps thread creation off the path of most connections: that is what made
one-request connections slower than wsgiref. Starting one is left to a spawner thread, so the
accept loop never waits on it: a burst of new connections is accepted at once (2,000 opened
back to back used to take 14 s, the listen backlog overflowing while the loop started threads)
and served as their threads come up. A thread with no work waits ``THREAD_IDLE_SECONDS`` for
the next, then ends.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Optional

from simplewsgi.http.limits import THREAD_IDLE_SECONDS


class ThreadPool:
    """Runs ``serve(job)`` for each submitted job on a reused thread. When no thread can be
    started (memory or process limits), ``refuse(job, error)`` gets the job instead."""

    def __init__(
        self,
        serve: Callable[[Any], None],
        refuse: Callable[[Any, RuntimeError], None],
        started: Callable[[], None] = lambda: None,
        idle_seconds: float = THREAD_IDLE_SECONDS,
    ) -> None:
        self._serve = serve
        self._refuse = refuse
        self._started = started
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._jobs: queue.SimpleQueue[Optional[Any]] = queue.SimpleQueue()
        self._idle = 0  # threads waiting in _jobs.get()
        self._to_start: queue.SimpleQueue[Optional[Any]] = queue.SimpleQueue()
        self._spawner: Optional[threading.Thread] = None
        self._closed = False

    def submit(self, job: Any) -> None:
        """Hand ``job`` to an idle thread, or to the spawner to start one for it."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return
            spawner = self._spawner
            if spawner is None:
                spawner = self._spawner = threading.Thread(
                    target=self._spawn, name="simplewsgi-spawner", daemon=True
                )
                self._threads.add(spawner)
            else:
                spawner = None
        if spawner is not None:  # once per pool: the only thread the caller starts
            try:
                spawner.start()
            except RuntimeError as error:
                with self._lock:
                    self._threads.discard(spawner)
                    self._spawner = None
                self._refuse(job, error)
                return
        self._to_start.put(job)

    def close(self) -> None:
        """Threads end after their current job; idle ones, and the spawner, now."""
        with self._lock:
            self._closed = True
            for _ in range(self._idle):
                self._jobs.put(None)
            self._idle = 0
        self._to_start.put(None)

    def join(self, deadline: float) -> None:
        """Wait until every thread has ended, or ``deadline`` (one for all of them)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self) -> None:
        try:
            while (job := self._to_start.get()) is not None:
                thread = threading.Thread(target=self._run, args=(job,), daemon=True)
                with self._lock:
                    self._threads.add(thread)
                try:
                    thread.start()
                except RuntimeError as error:  # "can't start new thread"
                    with self._lock:
                        self._threads.discard(thread)  # never started: nothing to join
                    self._refuse(job, error)
                else:
                    self._started()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

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
