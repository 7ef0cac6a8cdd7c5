"""The start-up probe of file events: a change the server makes in each watched root, and
expects to hear about, so that a root whose events never arrive is polled instead of silently
never reloading.

Rules, and why:

- One hidden file per root, ``.simplewsgi-probe-<pid>-<random>``, created exclusively and
  removed at once in a ``finally``: it exists for microseconds, is never left behind by an
  exception or a signal (only a SIGKILL in between could), and two servers on one shared mount
  never collide (PIDs repeat across containers, hence the random part). Every file named so is
  ignored by the watcher whatever the patterns (``ALWAYS_IGNORED_FILES``), including stale ones
  of dead processes and the probes of other servers watching the same tree: a probe never
  reloads anything.
- Both the creation and the removal count as "heard", and all roots are probed at once with one
  deadline: when events work the probe costs about a millisecond, and only a deaf root costs
  the whole deadline.
- A root that cannot be written (read-only mount, no permission) is not probed, and nothing is
  said about it: its files change only by someone else's hand, which the probe cannot imitate.

Standard library only; the watcher says what it heard through ``heard(path)`` events.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Sequence

from simplewsgi.reload.filters import PROBE_PREFIX

#: How long a probe waits for its events; inotify delivers them within a millisecond.
PROBE_DEADLINE = 1.0


def probe_path(root: str) -> str:
    return os.path.join(root, f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")


def touch_and_remove(path: str) -> bool:
    """Create ``path`` (exclusively) and remove it; False if it could not be created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # read-only, no permission, gone: nothing to probe
        return False
    try:
        os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return True


def deaf_roots(
    probes: Sequence[tuple[str, str, threading.Event]], deadline: float = PROBE_DEADLINE
) -> list[str]:
    """Make each probe's change (``(root, path, heard)``), then wait at most ``deadline`` for
    all of them to be heard: the roots whose probe was not. Unwritable roots are left out."""
    made = [(root, heard) for root, path, heard in probes if touch_and_remove(path)]
    end = time.monotonic() + deadline
    for _, heard in made:
        heard.wait(max(0.0, end - time.monotonic()))
    return [root for root, heard in made if not heard.is_set()]
