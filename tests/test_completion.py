"""simplewsgi.completion: the static APP scan, ``complete_app``, and the completion scripts driven
in real bash, zsh and fish subprocesses.

The shell tests put a ``simplewsgi`` executable on PATH that runs this checkout's CLI (what the
console script does), because the scripts call back into ``simplewsgi`` for every candidate.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import click
import pytest

from simplewsgi.completion import (
    COMPLETE_VAR,
    SCAN_MAX_FILES,
    complete_app,
    completion_script,
    find_app_candidates,
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "bash": ROOT / "completions" / "simplewsgi.bash",
    "zsh": ROOT / "completions" / "_simplewsgi",
    "fish": ROOT / "completions" / "simplewsgi.fish",
}
SHELL_DEADLINE = 30.0  # each shell run calls the CLI once; generous for a loaded CI machine


def write(root: Path, relpath: str, source: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


# -- find_app_candidates ---------------------------------------------------------------------


def test_find_app_candidates(tmp_path: Path) -> None:
    write(tmp_path, "app.py", "app = object()\n\ndef create_app():\n    pass\n")
    write(tmp_path, "wsgi.py", "from app import app as application\nother = 1\n")
    api_source = "api: object = object()\ndef make_server(): ...\ndef helper(): ...\n"
    write(tmp_path, "api_mod.py", api_source)
    write(tmp_path, "plain.py", "x = 1\n_private_app = 2\ncreate_config = {}\n")
    write(tmp_path, "escapes.py", "import re\nweb_app = re.compile('\\d')\n")  # SyntaxWarning
    write(tmp_path, "broken.py", "app = 1\ndef oops(:\n")
    write(tmp_path, "marker.py", "open('executed', 'w').close()\napp = 1\n")
    write(tmp_path, "pkg/__init__.py", "def create_app(): ...\n")
    write(tmp_path, "pkg/web.py", "application = None\n")
    write(tmp_path, "pkg/sub/deep.py", "app = 1\n")  # two levels down: not scanned
    write(tmp_path, "notpkg/mod.py", "app = 1\n")  # no __init__.py
    write(tmp_path, ".hidden/__init__.py", "app = 1\n")
    write(tmp_path, "venv/__init__.py", "app = 1\n")
    write(tmp_path, "venv/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "__pycache__/__init__.py", "app = 1\n")
    write(tmp_path, "big.py", "app = 1\n" + "#" * (1 << 20))
    write(tmp_path, "with-dash.py", "app = 1\n")
    started = time.perf_counter()
    found = find_app_candidates(str(tmp_path))
    elapsed = time.perf_counter() - started
    assert found == [
        "api_mod:api",
        "api_mod:make_server",
        "app",
        "app:app",
        "app:create_app",
        "escapes:web_app",
        "marker",
        "marker:app",
        "pkg.web",
        "pkg.web:application",
        "pkg:create_app",
        "wsgi",
        "wsgi:application",
    ]
    assert not (tmp_path / "executed").exists()
    assert "marker" not in sys.modules
    assert elapsed < 1.0  # budget is ~50 ms; generous so a loaded CI machine does not flake


def test_find_app_candidates_caps_files_read(tmp_path: Path) -> None:
    for i in range(SCAN_MAX_FILES + 50):
        write(tmp_path, f"m{i:03d}.py", "app = 1\n")
    found = find_app_candidates(str(tmp_path))
    assert len([c for c in found if ":" not in c]) == SCAN_MAX_FILES
    assert f"m{SCAN_MAX_FILES - 1:03d}:app" in found
    assert f"m{SCAN_MAX_FILES:03d}:app" not in found


def test_find_app_candidates_on_a_missing_directory(tmp_path: Path) -> None:
    assert find_app_candidates(str(tmp_path / "missing")) == []
    write(tmp_path, "notadir.py", "app = 1\n")
    assert find_app_candidates(str(tmp_path / "notadir.py")) == []


# -- complete_app ----------------------------------------------------------------------------


@click.command()
@click.option("--app-dir", default=".")
@click.argument("app", required=False, shell_complete=complete_app)
def _serve(app_dir: str, app: str | None) -> None:
    """A stand-in for ``serve``: the completer only needs ``app_dir`` in ``ctx.params``."""


def completions(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    from click.shell_completion import ShellComplete

    comp = ShellComplete(_serve, {}, "simplewsgi", COMPLETE_VAR)
    return [(item.type, item.value) for item in comp.get_completions(args, incomplete)]


def test_complete_app_filters_by_prefix_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "app.py", "app = 1\ndef create_app(): ...\n")
    write(tmp_path, "api.py", "application = 1\n")
    monkeypatch.chdir(tmp_path)
    assert completions([], "ap") == [
        ("plain", "api"),
        ("plain", "api:application"),
        ("plain", "app"),
        ("plain", "app:app"),
        ("plain", "app:create_app"),
    ]
    assert completions([], "app:c") == [("plain", "app:create_app")]
    assert completions([], "nothing") == []


def test_complete_app_scans_the_app_dir_when_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "src/web.py", "application = 1\n")
    write(tmp_path, "here.py", "app = 1\n")
    monkeypatch.chdir(tmp_path)
    assert completions(["--app-dir", "src"], "") == [
        ("plain", "web"),
        ("plain", "web:application"),
    ]


def test_complete_app_leaves_paths_to_the_shell(tmp_path: Path) -> None:
    assert completions([], "src/ap") == [("file", "src/ap")]


# -- the scripts -----------------------------------------------------------------------------


def test_completion_script_rejects_an_unknown_shell() -> None:
    with pytest.raises(ValueError, match="expected one of bash, zsh, fish"):
        completion_script(_serve, "powershell")
