"""simplewsgi.cli.completion: the static APP scan, ``complete_app``, and the completion scripts
driven in real bash, zsh and fish subprocesses.

The shell tests put a ``simplewsgi`` executable on PATH that runs this checkout's CLI (what the
console script does), because the scripts call back into ``simplewsgi`` for every candidate.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import click
import pytest

from simplewsgi.cli.completion import (
    COMPLETE_VAR,
    SCAN_MAX_FILES,
    SHELLS,
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
    write(tmp_path, "nspkg/mod.py", "app = 1\n")  # no __init__.py: a namespace package
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
        "nspkg.mod",
        "nspkg.mod:app",
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


# -- start-up cost --------------------------------------------------------------------------


def test_the_cli_loads_completion_machinery_only_when_completing() -> None:
    code = (
        "import sys, simplewsgi.cli; "
        "print(sorted(m for m in ('click.shell_completion', 'simplewsgi.importer') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
    for name in ("click.shell_completion", "simplewsgi.importer"):  # both real modules
        assert importlib.util.find_spec(name) is not None, name


# -- the scripts -----------------------------------------------------------------------------


def test_completion_script_rejects_an_unknown_shell() -> None:
    with pytest.raises(ValueError, match="expected one of bash, zsh, fish"):
        completion_script(_serve, "powershell")


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_checked_in_script(shell: str) -> None:
    from click.testing import CliRunner

    from simplewsgi.cli import main

    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert result.output == SCRIPTS[shell].read_text(encoding="utf-8")


def test_every_shell_has_a_pinned_script_and_format() -> None:
    from simplewsgi.cli import shells

    assert tuple(shells.CLASSES) == SHELLS


@pytest.mark.parametrize("shell", SHELLS)
def test_clicks_own_source_instruction_prints_the_same_script(
    shell: str, shell_env: dict[str, str], tmp_path: Path
) -> None:
    """``eval "$(_SIMPLEWSGI_COMPLETE=bash_source simplewsgi)"``, click's documented way, gives
    the checked-in script too (click < 8.5 echoes one more newline)."""
    result = subprocess.run(
        ["simplewsgi"],
        env={**shell_env, COMPLETE_VAR: f"{shell}_source"},
        capture_output=True,
        text=True,
        timeout=SHELL_DEADLINE,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n") == SCRIPTS[shell].read_text(encoding="utf-8").rstrip("\n")


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH starts with a ``simplewsgi`` running this checkout, and whose
    home and config directories are in tmp_path, so no shell reads or writes the user's files."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "simplewsgi"
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nfrom simplewsgi.cli import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMP_", "_SIMPLEWSGI"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
    )
    for name in ("SIMPLEWSGI_APP", "SIMPLEWSGI_APP_DIR"):
        env.pop(name, None)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An app directory with ``app.py`` defining ``app`` and a factory."""
    directory = tmp_path / "project"
    write(directory, "app.py", "app = object()\n\ndef create_app():\n    return app\n")
    return directory


def run_shell(argv: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    result = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SHELL_DEADLINE,
        check=False,
    )
    assert result.returncode == 0, f"{argv}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.stderr == "", result.stderr
    return result.stdout.splitlines()


def bash_complete(words: list[str], line: str, env: dict[str, str], cwd: Path) -> list[str]:
    """Source the bash script and call its function as bash's completion would: ``words`` is
    COMP_WORDS as bash splits ``line`` (at spaces and at ':'), the cursor at the end."""
    script = f"""
        source {shlex.quote(str(SCRIPTS["bash"]))}
        [[ $(complete -p simplewsgi) == *_simplewsgi_completion* ]] || exit 3
        COMP_WORDS=({" ".join(shlex.quote(word) for word in words)})
        COMP_CWORD={len(words) - 1}
        COMP_LINE={shlex.quote(line)}
        COMP_POINT=${{#COMP_LINE}}
        COMPREPLY=()
        _simplewsgi_completion simplewsgi "${{COMP_WORDS[-1]}}"
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    return [line for line in run_shell(["bash", "--norc", "-c", script], env, cwd) if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_options_choices_and_apps(shell_env: dict[str, str], project: Path) -> None:
    def complete(line: str) -> list[str]:
        # COMP_WORDS as bash builds them with ':' in COMP_WORDBREAKS: a ':' run is a word
        words = re.findall(r":+|[^\s:]+", line) + ([""] if line[-1].isspace() else [])
        return bash_complete(words, line, shell_env, project)

    assert "--port" in complete("simplewsgi serve --po")
    assert complete("simplewsgi serve --color ") == ["auto", "always", "never"]
    assert complete("simplewsgi serve ap") == ["app", "app:app", "app:create_app"]
    assert complete("simplewsgi se") == ["serve"]
    # bash split "app:cr" at the colon; the reply replaces only the part after it
    assert complete("simplewsgi serve app:cr") == ["create_app"]
    assert complete("simplewsgi serve app:") == ["app", "create_app"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_options_choices_and_apps(shell_env: dict[str, str], project: Path) -> None:
    """zsh without zpty: compinit loads the real completion system and the script registers
    itself with compdef; then the completion function runs with ``words``/``CURRENT`` set as
    the completion widget would, and ``compadd``/``_describe`` (which only work inside a widget)
    replaced by functions that print the candidates they were given."""

    def complete(line: str) -> list[str]:
        words = line.split() + ([""] if line.endswith(" ") else [])
        script = f"""
            autoload -Uz compinit && compinit -D -u
            source {shlex.quote(str(SCRIPTS["zsh"]))}
            [[ $_comps[simplewsgi] == _simplewsgi_completion ]] || exit 3
            compadd() {{ print -rl -- "${{(@P)argv[-1]}}" }}
            _describe() {{ print -rl -- "${{(@)${{(@P)3}}%%:*}}" }}
            words=({" ".join(shlex.quote(word) for word in words)})
            CURRENT={len(words)}
            _simplewsgi_completion
        """
        lines = run_shell(["zsh", "-f", "-c", script], shell_env, project)
        return [line.replace("\\:", ":") for line in lines if line]

    assert "--port" in complete("simplewsgi serve --po")
    assert complete("simplewsgi serve --color ") == ["auto", "always", "never"]
    assert complete("simplewsgi serve ap") == ["app", "app:app", "app:create_app"]
    assert complete("simplewsgi serve app:cr") == ["app:create_app"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_options_choices_and_apps(shell_env: dict[str, str], project: Path) -> None:
    def complete(line: str) -> list[str]:
        script = f"source {shlex.quote(str(SCRIPTS['fish']))}; complete -C {shlex.quote(line)}"
        lines = run_shell(["fish", "--no-config", "-c", script], shell_env, project)
        return [line.split("\t")[0] for line in lines if line]

    assert "--port" in complete("simplewsgi serve --po")
    assert sorted(complete("simplewsgi serve --color ")) == [
        "always",
        "auto",
        "never",
    ]  # fish sorts
    assert complete("simplewsgi serve ap") == ["app", "app:app", "app:create_app"]
    assert complete("simplewsgi serve app:cr") == ["app:create_app"]
