"""The benchmarks refuse a ``--tree`` they could not measure: a directory without the package
would be put on PYTHONPATH, found empty, and the installed simplewsgi measured in its place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", ["throughput.py", "request_budget.py", "cold_start.py"])
def test_a_tree_without_the_package_is_refused_before_anything_runs(
    script: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--tree", f"before={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path} has no simplewsgi package" in done.stderr


def test_a_checkout_is_taken_and_a_value_without_a_name_is_not() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from trees import tree_argument
    finally:
        sys.path.remove(str(BENCHMARKS))
    root = str(BENCHMARKS.parent)
    assert tree_argument(f"here={root}") == ("here", root)
    for value in (root, f"={root}", "here="):
        with pytest.raises(Exception, match="NAME=DIR"):
            tree_argument(value)
