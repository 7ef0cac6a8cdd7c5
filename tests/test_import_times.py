"""A slow reload names its slowest imports (issue 12): the worker's import timer in process,
and the supervisor's report through the real command, a file changed on disk."""

from __future__ import annotations

import importlib
import importlib.machinery
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from simplewsgi.importtimes import ImportTimer, app_package, slow_reload_note
from tests.commandline import HELLO, Server, write

SLEEPY = "import time\ntime.sleep({seconds})\n"


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """tmp_path on sys.path; what the test imported from it is forgotten after."""
    before = set(sys.modules)
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_each_module_counts_its_own_time_per_package(importable: Path) -> None:
    write(importable / "proj" / "__init__.py", "")
    write(importable / "proj" / "models.py", "import heavylib\n" + SLEEPY.format(seconds=0.05))
    write(importable / "proj" / "wsgi.py", "import proj.models\n")
    write(importable / "heavylib" / "__init__.py", "from heavylib import core\n")
    write(importable / "heavylib" / "core.py", SLEEPY.format(seconds=0.1))
    with ImportTimer() as timer:
        importlib.import_module("proj.wsgi")
    assert not any(isinstance(finder, ImportTimer) for finder in sys.meta_path)
    slowest = dict(timer.slowest("proj"))
    assert list(slowest) == ["heavylib", "proj.models"]  # wsgi and __init__ take < 5 ms
    assert 100 <= slowest["heavylib"] < 200  # core's sleep, not counted in proj.models too
    assert 50 <= slowest["proj.models"] < 100


def test_the_modules_keep_their_real_loader(importable: Path) -> None:
    write(importable / "plain.py", "LOADER = __loader__\nSPEC_LOADER = __spec__.loader\n")
    with ImportTimer():
        module = importlib.import_module("plain")
    for loader in (module.LOADER, module.SPEC_LOADER, module.__loader__, module.__spec__.loader):
        assert type(loader) is importlib.machinery.SourceFileLoader


def test_an_import_that_raises_is_timed_and_raised(importable: Path) -> None:
    write(importable / "broken.py", SLEEPY.format(seconds=0.02) + "raise ValueError('no')\n")
    with ImportTimer() as timer, pytest.raises(ValueError, match="no"):
        importlib.import_module("broken")
    assert timer.slowest(None)[0][0] == "broken"


def test_the_report_is_for_slow_reloads_only() -> None:
    imports = [("pandas", 420.4), ("app.models", 130.0)]
    assert slow_reload_note(501, imports) == "; slowest imports: pandas 420 ms, app.models 130 ms"
    assert slow_reload_note(500, imports) == ""
    assert slow_reload_note(900, []) == ""


@pytest.mark.parametrize(
    ("app", "package"),
    [
        ("app:app", "app"),
        ("proj.wsgi:application", "proj"),
        ("src/site.py:app", "site"),
        ("hello.py", "hello"),
        (None, None),
    ],
)
def test_the_apps_own_package(app: str, package: str) -> None:
    assert app_package(app) == package


def test_a_slow_reload_names_its_slowest_imports(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    write(tmp_path / "slowmod.py", SLEEPY.format(seconds=0.6))
    write(tmp_path / "app.py", "import slowmod\n" + HELLO)
    server = launch("serve", "app:app", "--reload", "--port", "0")
    assert server.get() == (200, "hello from app")
    write(tmp_path / "app.py", "import slowmod\n# edited\n" + HELLO)
    line = server.wait_for(r"reloaded in (\d+) ms \(changed: app\.py\)(.*)\n")
    assert int(line.group(1)) > 600
    note = re.fullmatch(r"; slowest imports: slowmod (\d+) ms", line.group(2))
    assert note is not None, line.group(0)
    assert 600 <= int(note.group(1)) < int(line.group(1))


def test_a_fast_reload_says_nothing_of_imports(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    write(tmp_path / "app.py", HELLO)
    server = launch("serve", "app:app", "--reload", "--port", "0")
    assert server.get()[0] == 200
    write(tmp_path / "app.py", "# edited\n" + HELLO)
    line = server.wait_for(r"reloaded in \d+ ms \(changed: app\.py\).*\n")
    assert "slowest imports" not in line.group(0)
