"""What a supervisor and its workers say to each other: a leaf module both ends import.

A worker is ``sys.executable -c BOOTSTRAP`` with inherited descriptors, named in the
environment: the listening sockets (``listen.LISTEN_FD_ENV``), the read end of the control pipe
(:data:`CONTROL_FD_ENV`: commands, supervisor -> worker) and the write end of the status pipe
(:data:`STATUS_FD_ENV`: events, worker -> supervisor). Each message is one JSON object on one
line, ``{"kind": ..., ...}``.
"""

from __future__ import annotations

import json
from typing import Any, Optional, TypedDict

from simplewsgi.exits import INTERRUPTED

OPTIONS_ENV = "SIMPLEWSGI_WORKER_OPTIONS"  # ServeOptions.to_json()
SUPERVISOR_PID_ENV = "SIMPLEWSGI_SUPERVISOR_PID"
CONTROL_FD_ENV = "SIMPLEWSGI_CONTROL_FD"
STATUS_FD_ENV = "SIMPLEWSGI_STATUS_FD"
# argv[1] is the directory holding the supervisor's simplewsgi package, so the worker runs the
# same copy; it is taken off sys.path again before any user code runs. The working directory,
# which ``-c`` puts first on sys.path, is dropped: a project's email.py must not shadow the
# standard library's for simplewsgi (the importer puts --app-dir first for the app later).
BOOTSTRAP = (
    "import sys; sys.path[:] = [sys.argv[1], *[p for p in sys.path if p]]; "
    "from simplewsgi.reload.worker import main; main()"
)

# Commands (supervisor -> worker). Both serve commands carry {"keyfile_password": str | None}:
# the TLS key's password, kept out of the worker's environment.
SERVE = "serve"  # import the app and serve it
SERVE_ERROR = "error"  # serve the error page for {"report": FailureReport}
STOP = "stop"  # {"swap": bool}: finish in-flight requests, then exit
# With keyboard shortcuts (keys.py): serve commands also carry {"access_log": bool}.
ACCESS_LOG = "access-log"  # {"on": bool}: the l key turned the access log off or on
TERMINAL = "terminal"  # the answer to DEBUGGER active: keys are no longer read, prompt away
# With --live (reload/live.py): serve commands also carry {"generation": int}, and LIVE says
# {"action": "reload" | "css", "files": [name, ...]} or {"action": "failed", "report": ...}.
LIVE = "live"
# Events (worker -> supervisor).
READY = "ready"  # serving; {"imports": [[name, ms], ...]}: the app's slowest (importtimes)
FAILED = "failed"  # {"report": FailureReport}: nothing to serve
STOPPING = "stopping"  # {"busy": int}: told to stop (not for a swap), finishing that many
DEBUGGER = "debugger"  # {"active": bool}: pdb is about to prompt (wait for TERMINAL), or done

# A worker's exit statuses, read only by its supervisor.
EXIT_STOPPED = 0  # told to stop (or orphaned) before serving, or stopped after serving
EXIT_APP_FAILED = 3  # the app could not be imported; the report says why
EXIT_PROTOCOL = 5  # started without the supervisor's environment
EXIT_FORCED = INTERRUPTED  # a second Ctrl+C while finishing requests, as the command's


class _Failure(TypedDict):
    message: str  # one line: "SyntaxError: invalid syntax", "the worker exited with code 3"
    filename: Optional[str]  # the file to fix (and to watch until it is fixed)
    lineno: Optional[int]
    line: Optional[str]  # the offending source line, stripped
    details: str  # the user's traceback, or a hint


class FailureReport(_Failure, total=False):
    """Why there is no app to serve: shown by the supervisor and on the error page."""

    debug: dict[str, Any]  # --debug: the exception as middleware.debugcapture.capture() says


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def decode(line: bytes) -> Optional[dict[str, Any]]:
    """One message, or None for a line that is not a JSON object."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
