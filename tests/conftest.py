from __future__ import annotations

import sys
from typing import Iterator

import pytest

from tests.helpers import StderrCapture


@pytest.fixture
def stderr() -> Iterator[StderrCapture]:
    """Capture what server threads write to sys.stderr (access log, tracebacks)."""
    capture = StderrCapture()
    old, sys.stderr = sys.stderr, capture  # type: ignore[assignment]
    try:
        yield capture
    finally:
        sys.stderr = old
