from __future__ import annotations

from typing import Any

import pytest


class ServerStderr:
    """What server threads wrote to sys.stderr (access log, tracebacks), via pytest's capsys,
    which replaces sys.stderr process-wide for the duration of the test."""

    def __init__(self, capsys: Any) -> None:
        self.capsys = capsys
        self.text = ""

    def getvalue(self) -> str:
        self.text += self.capsys.readouterr().err
        return self.text


@pytest.fixture
def stderr(capsys: Any) -> ServerStderr:
    return ServerStderr(capsys)
