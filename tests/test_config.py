"""Configuration pieces in memory: which pyproject.toml is found, which ones are parsed at all,
what every key takes, and how env files layer. The command itself, in subprocesses, is
``test_config_cli.py``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from simplewsgi import cli, envfile
from simplewsgi.cli import config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def _defines_table(text: str) -> bool:
    tool = tomllib.loads(text).get("tool")
    return isinstance(tool, dict) and "simplewsgi" in tool


DEFINING = [
    "[tool.simplewsgi]\nport = 1\n",
    "[ tool . simplewsgi ]\nport = 1\n",
    '[tool."simplewsgi"]\nport = 1\n',
    "[tool.'simplewsgi']\nport = 1\n",
    '["tool".simplewsgi]\nport = 1\n',
    "[tool.simplewsgi.extra]\nx = 1\n",
    "tool.simplewsgi.port = 1\n",
    "tool . simplewsgi = { port = 1 }\n",
    "[tool]\nsimplewsgi.port = 1\n",
    "[tool]\nsimplewsgi = { port = 1 }\n",
    "[project]\nname = 'x'\n[ tool ]\nother = 1\n  simplewsgi . port = 1\n",
    '["tool"]\nsimplewsgi.port = 1\n',
    '[tool]\n"simplewsgi" = { port = 1 }\n',
    "tool = { simplewsgi = { port = 1 } }\n",
    "  [tool.simplewsgi]  # indented, with a comment\nport = 1\n",
    "[project]\nname = 'x'\n\n[tool.ruff]\nline-length = 1\n\n[tool.simplewsgi]\nport = 1\n",
]
NOT_DEFINING = [
    '[project]\nname = "simplewsgi"\n',
    '[project]\ndependencies = ["simplewsgi>=1", "simplewsgi[dotenv]"]\n',
    '[project]\ndependencies = [\n    "simplewsgi",\n    "simplewsgi[dotenv]>=1",\n]\n',
    '[project.scripts]\nsimplewsgi-extra = "x:y"\n',
    "[tool.simplewsgi-other]\nport = 1\n",
    "# [tool.simplewsgi]\n# port = 1\n",
    '[tool.ruff]\nsrc = ["simplewsgi"]\n',
    '[project.scripts]\nsimplewsgi = "simplewsgi.cli:main"\n',
    '[tool.setuptools.package-data]\nsimplewsgi = ["py.typed"]\n',
    '[tool]\nx = 1\n[tool.setuptools.package-data]\nsimplewsgi = ["py.typed"]\n',
    "",
]


@pytest.mark.parametrize("text", DEFINING)
def test_the_text_check_never_misses_a_table(text: str) -> None:
    assert _defines_table(text)
    assert config.may_define_table(text.encode())


@pytest.mark.parametrize("text", NOT_DEFINING)
def test_a_file_that_only_mentions_simplewsgi_is_not_parsed(text: str) -> None:
    assert not _defines_table(text)
    assert not config.may_define_table(text.encode())


def test_the_search_stops_at_the_first_pyproject(tmp_path: Path) -> None:
    outer = tmp_path / "pyproject.toml"
    outer.write_text("[tool.simplewsgi]\nport = 1\n")
    inner = tmp_path / "inner"
    (inner / "deep").mkdir(parents=True)
    assert config.find_pyproject(str(inner / "deep")) == str(outer)
    (inner / "pyproject.toml").write_text("[project]\nname = 'inner'\n")  # no table
    assert config.find_pyproject(str(inner / "deep")) == str(inner / "pyproject.toml")
    assert config.read_table(str(inner / "pyproject.toml")) is None
    assert config.read_table(str(outer)) == {"port": 1}


def _serve() -> click.Command:
    command = cli.main.get_command(click.Context(cli.main), "serve")
    assert command is not None
    return command


def test_every_serve_option_is_a_key_named_as_typed() -> None:
    keys = config.config_params(_serve())
    assert "app" in keys and "port" in keys and "app-dir" in keys
    assert "access-log" in keys and "no-access-log" not in keys and "help" not in keys
    for key, param in keys.items():
        if isinstance(param, click.Option):
            assert f"--{key}" in param.opts, key


def test_every_flag_can_be_turned_off_on_the_command_line() -> None:
    """What the table (or a SIMPLEWSGI_* variable) turns on, the command line can undo."""
    flags = [p for p in _serve().params if isinstance(p, click.Option) and p.is_flag]
    assert len(flags) >= 5
    for flag in flags:
        if flag.name not in ("help", "version"):
            assert any(name.startswith("--no-") for name in flag.secondary_opts), flag.opts


def test_the_path_options_are_marked() -> None:
    marked = {
        key
        for key, param in config.config_params(_serve()).items()
        if getattr(param, "config_path", None) is not None
    }
    assert marked == {
        "app",
        "app-dir",
        "reload-dir",
        "env-file",
        "uds",
        "static",
        "certfile",
        "keyfile",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello:app", "hello:app"),  # a module: not a path
        ("web/app.py", "/proj/web/app.py"),
        ("web/app.py:make('a:b')", "/proj/web/app.py:make('a:b')"),
        ("../other.py:app", "/other.py:app"),
        ("/abs/app.py", "/abs/app.py"),
    ],
)
def test_a_file_app_is_relative_to_the_file(value: str, expected: str) -> None:
    assert config.app_path(value, "/proj") == expected


def test_path_after_a_separator() -> None:
    resolve = config.path_after("=")
    assert resolve("/static=public", "/proj") == "/static=/proj/public"
    assert resolve("/static=/srv/www", "/proj") == "/static=/srv/www"
    assert resolve("public", "/proj") == "/proj/public"


# --- env files --------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """os.environ restored after the test, without the names the tests use."""
    for name in ("A", "B", "C", "D", "HOME_SET"):
        monkeypatch.delenv(name, raising=False)
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _files(tmp_path: Path, *texts: str) -> list[str]:
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"env{i}"
        path.write_text(text)
        paths.append(str(path))
    return paths


def test_later_files_win_and_references_see_the_latest_definition(
    tmp_path: Path, clean_env: Any
) -> None:
    paths = _files(tmp_path, "A=1\nB=${A}-b\n", "A=2\nC=${A}-c\n")
    assert envfile.load(paths) == {"A": "2", "B": "1-b", "C": "2-c"}
    assert (os.environ["A"], os.environ["B"], os.environ["C"]) == ("2", "1-b", "2-c")


def test_the_environment_wins_over_every_file(
    tmp_path: Path, clean_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("A", "shell")
    paths = _files(tmp_path, "A=1\n", "A=2\nB=${A}\n")
    assert envfile.load(paths) == {"B": "shell"}  # the reference sees the value A keeps
    assert os.environ["A"] == "shell"


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path, clean_env: Any) -> None:
    path = tmp_path / "bom.env"
    path.write_bytes(b"\xef\xbb\xbfA=1\n")
    assert envfile.load([str(path)]) == {"A": "1"}


def test_unparsable_lines_are_skipped_and_named(tmp_path: Path, clean_env: Any) -> None:
    paths = _files(tmp_path, "A=1\nthis is not a binding\nB=2\nD\n")
    said: list[str] = []
    assert envfile.load(paths, said.append) == {"A": "1", "B": "2"}  # D has no value
    assert said == [f"{paths[0]}:2: cannot parse this line of the env file; skipped it"]


def test_an_unreadable_file_is_an_error_naming_it(tmp_path: Path, clean_env: Any) -> None:
    missing = str(tmp_path / "nope.env")
    with pytest.raises(envfile.EnvFileError, match=r"nope\.env.*No such file"):
        envfile.load([missing])
    latin = tmp_path / "latin.env"
    latin.write_bytes(b"A=caf\xe9\n")
    with pytest.raises(envfile.EnvFileError, match=r"latin\.env.*not UTF-8"):
        envfile.load([str(latin)])


def test_without_python_dotenv_the_error_names_the_extra(
    tmp_path: Path, clean_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("dotenv", "dotenv.main", "dotenv.parser"):
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    with pytest.raises(envfile.EnvFileError, match=r"pip install 'simplewsgi\[dotenv\]'"):
        envfile.check_available()
    with pytest.raises(envfile.EnvFileError, match=r"simplewsgi\[dotenv\]"):
        envfile.load(_files(tmp_path, "A=1\n"))
    assert envfile.load([]) == {}  # nothing to load: python-dotenv is not needed


@pytest.mark.parametrize(
    "text",
    ['[tool.simplewsgi]\nport = "x"\n', '[project]\nname = "a"\n[tool.simplewsgi]\nport = "x"\n'],
)
def test_a_byte_order_mark_before_the_table_is_read_past(tmp_path: Path, text: str) -> None:
    """Notepad writes one; TOML has none, so both the text check and tomllib skip it."""
    path = tmp_path / "pyproject.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert config.read_table(str(path)) == {"port": "x"}


def test_the_text_check_takes_time_in_proportion_to_the_file() -> None:
    """One pass over headers and keys: rescanning the text before each ``simplewsgi`` key took
    over a minute for 20,000 of them (and ran before --help too)."""
    import time

    data = b"".join(b"[t%d]\nsimplewsgi = 1\n" % i for i in range(20_000))
    start = time.perf_counter()
    assert not config.may_define_table(data)
    assert config.may_define_table(data + b"[tool]\nsimplewsgi = {}\n")
    assert time.perf_counter() - start < 2.0


def test_an_unusable_project_directory_is_said_to_be_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """app-dir defaults to the pyproject's directory: when that is not readable (an
    execute-only directory), the error says so, not that --app-dir or its variable is wrong."""
    from click.testing import CliRunner

    from simplewsgi import run

    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.simplewsgi]\nport = 0\n")
    monkeypatch.chdir(project / "sub")
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode, **kw: os.fspath(path) != str(project) and real_access(path, mode, **kw),
    )
    served: list[Any] = []
    monkeypatch.setattr(run, "serve", lambda options, console: served.append(options))
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 2 and not served, result.output
    assert "app-dir defaults to the directory of" in result.output, result.output
    assert "--app-dir" not in result.output and "SIMPLEWSGI_APP_DIR" not in result.output
    result = CliRunner().invoke(cli.main, ["serve", "--app-dir", "."])  # the control
    assert result.exit_code == 0 and served, result.output
