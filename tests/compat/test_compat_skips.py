"""Where a framework is not installed, its compatibility tests skip and say which one: the suite
run in a subprocess with every framework hidden (a ``sitecustomize`` that blocks its import)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commandline import REPO, cli_env, write

pytestmark = pytest.mark.compat

HIDDEN = ("flask", "django", "bottle", "falcon", "pyramid")


def test_each_missing_framework_is_a_skip_naming_it(tmp_path: Path) -> None:
    hide = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in HIDDEN)
    write(tmp_path / "hide" / "sitecustomize.py", hide)
    env = cli_env(PYTHONPATH=f"{tmp_path / 'hide'}:{REPO}")
    blocked = subprocess.run(
        [sys.executable, "-c", "import flask"], env=env, capture_output=True, text=True
    )
    assert "ModuleNotFoundError" in blocked.stderr  # the sitecustomize works
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n0", "-p", "no:cacheprovider", "-rs", "-q",
         "tests/compat", "--deselect", "tests/compat/test_compat_skips.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"\d+ skipped", out) and " passed" not in out and " failed" not in out, out
    for module, name in [
        ("test_flask", "Flask"), ("test_flask_reload", "Flask"), ("test_flask_browser", "Flask"),
        ("test_django", "Django"),
    ]:  # fmt: skip
        assert re.search(
            rf"SKIPPED \[\d+\] tests/compat/{module}\.py:\d+: {name} is not installed", out
        ), out
    for name in ("bottle", "falcon", "pyramid"):
        assert re.search(rf"SKIPPED \[\d+\] .*: {name} is not installed", out), out
