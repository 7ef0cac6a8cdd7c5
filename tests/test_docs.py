"""The man page and completion scripts: checked in exactly as generated from the click tree,
complete (every option, variable and exit status), and rendered by groff without a warning."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

from scripts.docgen import files as _docs
from scripts.docgen import manpage as _manpage
from scripts.docgen.roff import bold, escape
from simplewsgi import cli, exits

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / _docs.MAN_PAGE


@pytest.fixture(scope="module")
def page() -> str:
    return MAN.read_text(encoding="utf-8")


def test_checked_in_files_are_what_the_generator_writes() -> None:
    stale = [path for path, _, _ in _docs.stale_files(ROOT)]
    assert not stale, f"out of date: {stale}; run python {_docs.GENERATOR}"


def test_generation_is_deterministic() -> None:
    assert _docs.generated_files() == _docs.generated_files()


def test_every_option_of_every_command_is_in_the_man_page(page: str) -> None:
    names = _manpage.all_option_names(cli.main)
    assert {"--port", "-p", "--access-log", "--no-access-log", "--reload", "--version"} <= names
    missing = sorted(name for name in names if escape(name) not in page)
    assert not missing


def test_every_command_has_its_synopsis_and_options_section(page: str) -> None:
    for doc in _manpage.walk(cli.main):
        assert _manpage.synopsis(doc) in page
        assert f'.SS "Options of {doc.path}"' in page
    assert {doc.path for doc in _manpage.walk(cli.main)} >= {
        "simplewsgi",
        "simplewsgi serve",
        "simplewsgi demo",
        "simplewsgi completion",
    }


def test_every_environment_variable_is_in_the_man_page(page: str) -> None:
    envvars = {
        name
        for doc in _manpage.walk(cli.main)
        for param in doc.command.get_params(doc.ctx)
        for name in ([param.envvar] if isinstance(param.envvar, str) else param.envvar or [])
    }
    assert {"SIMPLEWSGI_APP", "SIMPLEWSGI_PORT", "SIMPLEWSGI_ACCESS_LOG"} <= envvars
    for name in [*envvars, "NO_COLOR", "FORCE_COLOR"]:
        assert f".TP\n{bold(name)}\n" in page.split(".SH ENVIRONMENT")[1], name


def test_choices_and_defaults_come_from_the_tree(page: str) -> None:
    assert "\\fB\\%\\-\\-color\\fR \\fI\\%auto\\fR|\\fI\\%always\\fR|\\fI\\%never\\fR" in page
    assert "Default: \\fB\\%8000\\fR" in page
    assert "Default: \\fB\\%\\-\\-access\\-log\\fR" in page
    assert "\\fB\\%bash\\fR|\\fB\\%zsh\\fR|\\fB\\%fish\\fR" in page  # completion SHELL


def test_exit_statuses_come_from_the_one_table(page: str) -> None:
    statuses = dict(exits.TABLE)
    assert {exits.OK, exits.USAGE, exits.APP_ERROR, exits.CANNOT_LISTEN} <= set(statuses)
    assert "APP" in statuses[exits.APP_ERROR]
    section = page.split(".SH EXIT STATUS")[1].split(".SH ")[0]
    assert re.findall(r"^\.TP\n\\fB\\%(\d+)\\fR$", section, re.MULTILINE) == [
        str(value) for value, _ in exits.TABLE
    ]


def test_the_readme_exit_status_table_is_the_one_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit status")[1].split("\n## ")[0].split("\n### ")[0]
    rows = re.findall(r"^\| *(\d+) *\| *(.+?) *\|$", section, re.MULTILINE)
    assert rows == [(str(value), meaning) for value, meaning in exits.TABLE]


def test_every_key_of_the_table_is_in_the_man_page(page: str) -> None:
    """FILES lists each [tool.simplewsgi] key, from the tree: a new option appears there."""
    serve = cli.main.get_command(click.Context(cli.main), "serve")
    assert serve is not None
    section = page.split(".SH FILES")[1].split(".SH ")[0]
    keys = re.findall(r"^\.TP 20\n\\fB\\%(.+?)\\fR$", section, re.MULTILINE)
    assert [key.replace("\\-", "-") for key in keys] == [
        param.opts[0].lstrip("-") if isinstance(param, click.Option) else param.name
        for param in serve.params
        if param.expose_value and not (isinstance(param, click.Option) and param.hidden)
    ]
    assert "port" in keys and "env\\-file" in keys


def test_sections(page: str) -> None:
    sections = re.findall(r'^\.SH "?([A-Z ]+)"?$', page, re.MULTILINE)
    assert sections == [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "OPTIONS",
        "APP",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
    ]
    assert ".BR gunicorn (1)" in page
    assert ".BR waitress\\-serve (1)" in page
    assert 'eval "$(simplewsgi completion bash)"' in page


def test_prose_naming_an_unknown_option_fails_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        _manpage, "EXAMPLES", [*_manpage.EXAMPLES, "$ simplewsgi serve --threads 4"]
    )
    with pytest.raises(ValueError, match="unknown options: --threads"):
        _manpage.man_page(cli.main)


def test_check_mode_fails_on_a_stale_file_and_writing_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _docs.main(["--root", str(tmp_path)]) == 0
    assert _docs.main(["--check", "--root", str(tmp_path)]) == 0
    bash = tmp_path / _docs.COMPLETION_FILES["bash"]
    bash.write_text(bash.read_text(encoding="utf-8") + "# edited by hand\n", encoding="utf-8")
    capsys.readouterr()
    assert _docs.main(["--check", "--root", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "-# edited by hand" in out
    assert f"{_docs.COMPLETION_FILES['bash']}: out of date" in err
    assert _docs.main(["--root", str(tmp_path)]) == 0
    assert _docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_the_script_checks_this_checkout() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / _docs.GENERATOR), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_groff_renders_the_page_without_warnings() -> None:
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_rendered_page_lists_options_as_typed() -> None:
    """Options render with ASCII hyphens, so they can be copied from the page into a shell."""
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-rLL=200n", str(MAN)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = re.sub(r".\x08", "", result.stdout)  # overstrike bold and underline
    assert "--no-access-log" in text
    assert "SIMPLEWSGI_RELOAD_DIR" in text


def test_completion_command_is_in_the_tree() -> None:
    command = cli.main.get_command(click.Context(cli.main), "completion")
    assert command is not None


HAND_OFF_APP = """
def app(environ, start_response):
    start_response("200 OK", [])
    return [b"x"]
application = app
class Site:
    def wsgi_app(self, environ, start_response):
        return app(environ, start_response)
site = Site()
def create_app(mode="prod", debug=False):
    return app
"""
# APP string -> (gunicorn takes it, waitress-serve takes it), as README.md and the man page say.
HAND_OFF = {
    "handoff:app": (True, True),
    "handoff": (True, False),  # gunicorn: handoff:application; waitress-serve: the module
    "handoff:site.wsgi_app": (False, True),
    "handoff:create_app('dev', debug=True)": (True, False),
    "handoff.py:app": (False, False),
}


def test_the_production_hand_off_table_is_what_gunicorn_and_waitress_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gunicorn_util = pytest.importorskip("gunicorn.util")
    waitress_runner = pytest.importorskip("waitress.runner")
    (tmp_path / "handoff.py").write_text(HAND_OFF_APP)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])  # waitress appends to it too
    monkeypatch.chdir(tmp_path)

    def gunicorn_takes(spec: str) -> bool:
        try:
            return callable(gunicorn_util.import_app(spec))
        except (ImportError, gunicorn_util.AppImportError, AttributeError):
            return False

    def waitress_takes(spec: str) -> bool:
        served: list[object] = []
        argv = ["waitress-serve", spec]
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            code = waitress_runner.run(argv, _serve=lambda app, **kw: served.append(app))
        return code == 0 and callable(served[0]) and not isinstance(served[0], ModuleType)

    try:
        found = {spec: (gunicorn_takes(spec), waitress_takes(spec)) for spec in HAND_OFF}
    finally:
        sys.modules.pop("handoff", None)
    assert found == HAND_OFF
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("## Production")[1]
    factory_row = "| `module:create_app('dev', debug=True)` (literal arguments) | yes | yes | no |"
    assert factory_row in readme
    assert "| `pkg.mod:obj.attr` (dotted attribute) | yes | no | yes |" in readme
    page = MAN.read_text(encoding="utf-8")
    assert "a factory call with literal arguments works with gunicorn" in page.replace("\n", " ")
