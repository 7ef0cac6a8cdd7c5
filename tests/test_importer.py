"""simplewsgi.importer: APP strings to WSGI callables, with exact error types and messages.

Every test writes real modules into its own tmp_path (also the current directory) and the
``isolated`` fixture restores sys.path and drops the modules it imported, so tests are independent.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simplewsgi.importer import (
    AppAttributeNotFound,
    AppFactoryError,
    AppFactorySyntaxError,
    AppImportError,
    AppModuleNotFound,
    AppNotCallable,
    AppRaisedOnImport,
    AppSpecError,
    import_app,
)

HELLO = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
"""

FACTORY = """
calls = []

def create_app(mode="prod", debug=False):
    calls.append((mode, debug))
    def app(environ, start_response):
        start_response("200 OK", [])
        return [f"{mode}:{debug}".encode()]
    return app
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in tmp_path; afterwards restore sys.path and forget every module loaded from there."""
    saved_path = sys.path[:]
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.path[:] = saved_path
    root = str(tmp_path)
    # Every location first: a namespace package's __path__ is recomputed from its parent's.
    loaded = [
        (name, [getattr(module, "__file__", None) or "", *getattr(module, "__path__", [])])
        for name, module in list(sys.modules.items())
    ]
    for name, locations in loaded:
        if any(str(location).startswith(root) for location in locations):
            del sys.modules[name]


def write(relpath: str, source: str, root: Path | None = None) -> Path:
    path = (root or Path.cwd()) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def body(app: Any) -> bytes:
    statuses: list[str] = []
    chunks = app({"REQUEST_METHOD": "GET"}, lambda status, headers: statuses.append(status))
    assert statuses, "the app never called start_response"
    return b"".join(chunks)


# -- the accepted forms ----------------------------------------------------------------------


def test_module_colon_attr() -> None:
    write("hello.py", HELLO)
    assert body(import_app("hello:app")) == b"hello"


def test_dotted_package_and_dotted_attribute() -> None:
    write("pkg/__init__.py", "")
    write("pkg/sub/__init__.py", "")
    write(
        "pkg/sub/web.py",
        """
        class Site:
            def wsgi_app(self, environ, start_response):
                start_response("200 OK", [])
                return [b"site"]

        site = Site()
        """,
    )
    assert body(import_app("pkg.sub.web:site.wsgi_app")) == b"site"


def test_module_alone_prefers_app_then_application() -> None:
    write("both.py", HELLO + "\napplication = None\n")
    write("only_application.py", HELLO.replace("def app", "def application"))
    assert body(import_app("both")) == b"hello"
    assert body(import_app("only_application")) == b"hello"


def test_factory_call_with_literal_args_and_kwargs() -> None:
    write("fact.py", FACTORY)
    assert body(import_app("fact:create_app('dev', debug=True)")) == b"dev:True"
    assert body(import_app("fact:create_app()")) == b"prod:False"
    assert body(import_app("fact:create_app(mode='a:b')")) == b"a:b:False"


def test_factory_flag_calls_the_attribute_once() -> None:
    write("fact.py", FACTORY)
    assert body(import_app("fact:create_app", factory=True)) == b"prod:False"
    # An explicit call in the APP string is the factory call; --factory does not call it again.
    assert body(import_app("fact:create_app('x')", factory=True)) == b"x:False"
    assert sys.modules["fact"].calls == [("prod", False), ("x", False)]


def test_app_dir_relative_and_absolute(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write("inside.py", HELLO, root=src)
    assert body(import_app("inside:app", app_dir="src")) == b"hello"
    assert sys.path[0] == str(Path.cwd() / "src")
    assert body(import_app("inside:app", app_dir=str(src))) == b"hello"
    assert sys.path.count(str(Path.cwd() / "src")) == 1


def test_app_dir_already_on_sys_path_is_moved_first_not_duplicated() -> None:
    src = str(Path.cwd() / "src")
    write("inside.py", HELLO, root=Path(src))
    sys.path.append(src)
    assert body(import_app("inside:app", app_dir=src)) == b"hello"
    assert sys.path[0] == src
    assert sys.path.count(src) == 1


def test_app_dir_defaults_to_the_current_directory(tmp_path: Path) -> None:
    write("hello.py", HELLO)
    import_app("hello:app")
    assert sys.path[0] == str(Path.cwd())


def test_file_path_with_and_without_attr(tmp_path: Path) -> None:
    write("scripts/serve.py", "from helper import app\n")  # a sibling import must work
    write("scripts/helper.py", HELLO)
    assert body(import_app("scripts/serve.py")) == b"hello"
    assert body(import_app("scripts/serve.py:app")) == b"hello"
    assert body(import_app(str(tmp_path / "scripts" / "serve.py") + ":app")) == b"hello"


def test_file_path_with_factory_call_splits_on_the_colon_outside_parentheses() -> None:
    write("fact.py", FACTORY)
    assert body(import_app("fact.py:create_app('a:b', debug=1)")) == b"a:b:1"


def test_file_inside_a_package_is_imported_under_its_dotted_name(tmp_path: Path) -> None:
    write("proj/pkg/__init__.py", "")
    write("proj/pkg/helpers.py", HELLO)
    write("proj/pkg/web.py", "from .helpers import app\n")
    assert body(import_app("proj/pkg/web.py:app")) == b"hello"
    assert "pkg.web" in sys.modules
    assert sys.path[0] == str(Path.cwd() / "proj")


def test_file_that_shadows_a_loaded_module_is_refused() -> None:
    write("json.py", HELLO)
    with pytest.raises(AppImportError, match="rename") as info:
        import_app("json.py:app")
    assert "'json'" in str(info.value)
    assert sys.modules["json"] is json


# -- malformed APP strings -------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["", "   ", ":app", "hello:", "hello:  ", "not a module", "1x:app"]
)
def test_malformed_spec_names_value_and_expected_form(spec: str) -> None:
    before = sys.path[:]
    with pytest.raises(AppSpecError) as info:
        import_app(spec, app_dir="elsewhere")
    assert repr(spec) in str(info.value)
    assert "'module:attr'" in str(info.value)
    assert sys.path == before, "a malformed APP string must not touch sys.path"


@pytest.mark.parametrize("attr", ["app[0]", "app + 1", "1abc", "class"])
def test_attribute_that_is_not_a_dotted_name(attr: str) -> None:
    write("hello.py", HELLO)
    with pytest.raises(AppSpecError, match="'module:attr'"):
        import_app(f"hello:{attr}")


def test_non_file_path_is_refused() -> None:
    (Path.cwd() / "some" / "dir").mkdir(parents=True)
    with pytest.raises(AppSpecError, match=r"not a \.py file"):
        import_app("some/dir:app")


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        ("create_app(os.system('touch pwned'))", "os.system('touch pwned')"),
        ("create_app(mode=__import__('os').getcwd())", "__import__('os').getcwd()"),
        ("create_app(x)", "'x'"),
        ("create_app(*['a'])", "'*'"),
        ("create_app(**{'mode': 'a'})", "'**'"),
        ("create_app(mode='a', mode='b')", "repeated"),
        ("create_app(", "cannot parse"),
        ("create_app()()", "not a dotted name"),
        ("create_app('a').wsgi", "not a dotted name"),
    ],
)
def test_factory_syntax_errors_run_nothing(call: str, fragment: str) -> None:
    write("fact.py", FACTORY + "\nopen('imported', 'w').close()\n")
    with pytest.raises(AppFactorySyntaxError) as info:
        import_app(f"fact:{call}")
    assert fragment in str(info.value)
    assert not Path("pwned").exists()
    assert not Path("imported").exists(), "the APP string must be checked before importing"
    assert "fact" not in sys.modules


# -- module and attribute not found ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "missing"),
    [("nosuch_mod_xyz:app", "nosuch_mod_xyz"), ("nopkg_xyz.web:app", "nopkg_xyz")],
)
def test_module_not_found_names_the_missing_module(spec: str, missing: str) -> None:
    with pytest.raises(AppModuleNotFound) as info:
        import_app(spec)
    assert f"module {missing!r} not found" in str(info.value)
    assert repr(spec) in str(info.value)


def test_missing_submodule_of_an_existing_package() -> None:
    write("pkg/__init__.py", "")
    with pytest.raises(AppModuleNotFound, match=r"'pkg\.nosub' not found"):
        import_app("pkg.nosub:app")


def test_missing_file_is_module_not_found(tmp_path: Path) -> None:
    with pytest.raises(AppModuleNotFound) as info:
        import_app("nowhere/app.py:app")
    assert str(tmp_path / "nowhere" / "app.py") in str(info.value)


def test_attribute_not_found_suggests_close_match() -> None:
    write("hello.py", HELLO)
    with pytest.raises(AppAttributeNotFound) as info:
        import_app("hello:ap")
    message = str(info.value)
    assert "has no attribute 'ap'" in message
    assert "did you mean 'hello:app'?" in message
    assert len(message.splitlines()) == 2


def test_attribute_not_found_lists_own_callables_not_imported_ones() -> None:
    write(
        "tools.py",
        """
        from os.path import join
        from collections import OrderedDict
        LIMIT = 3
        def serve(environ, start_response): ...
        def handler(environ, start_response): ...
        """,
    )
    with pytest.raises(AppAttributeNotFound) as info:
        import_app("tools:zzz")
    message = str(info.value)
    assert "available: handler, serve" in message
    assert "join" not in message
    assert "OrderedDict" not in message
    assert "LIMIT" not in message


def test_attribute_not_found_in_a_dotted_attribute() -> None:
    write("website.py", "class S:\n    def wsgi_app(self, e, s): ...\n\nsite = S()\n")
    with pytest.raises(AppAttributeNotFound) as info:
        import_app("website:site.wsgi")
    assert "attribute 'site' has no attribute 'wsgi'" in str(info.value)
    assert "did you mean 'website:site.wsgi_app'?" in str(info.value)


def test_module_alone_without_app_or_application() -> None:
    write("bare.py", "def serve(environ, start_response): ...\n")
    with pytest.raises(AppAttributeNotFound) as info:
        import_app("bare")
    message = str(info.value)
    assert "no attribute 'app' or 'application'" in message
    assert "available: serve" in message


def test_module_alone_suggests_a_close_name() -> None:
    write("near.py", "def ap(environ, start_response): ...\n")
    with pytest.raises(AppAttributeNotFound, match=r"did you mean 'near:ap'\?"):
        import_app("near")


def test_module_with_no_callables_says_so() -> None:
    write("empty.py", "X = 1\n")
    with pytest.raises(AppAttributeNotFound, match="has no public callables"):
        import_app("empty:app")


# -- not callable ----------------------------------------------------------------------------


def test_not_callable_names_the_type() -> None:
    write("conf.py", "CONFIG = 42\n")
    with pytest.raises(AppNotCallable) as info:
        import_app("conf:CONFIG")
    assert "'conf:CONFIG' is int 42, not callable" in str(info.value)
    assert "app(environ, start_response)" in str(info.value)


def test_module_resolves_to_module_with_hint() -> None:
    write("pkg/__init__.py", "from . import mod\n")
    write("pkg/mod.py", HELLO)
    with pytest.raises(AppNotCallable) as info:
        import_app("pkg:mod")
    assert "'pkg.mod' is a module" in str(info.value)
    assert "did you mean 'pkg.mod:app'?" in str(info.value)


def test_factory_returning_none_is_not_callable() -> None:
    write("fact.py", "def create_app():\n    pass\n")
    with pytest.raises(
        AppNotCallable, match=r"factory 'fact:create_app' returned NoneType None, not callable"
    ):
        import_app("fact:create_app", factory=True)


def test_factory_that_is_not_callable() -> None:
    write("fact.py", "create_app = 'nope'\n")
    with pytest.raises(AppNotCallable, match="factory 'fact:create_app' is str"):
        import_app("fact:create_app()")


# -- the factory raised ----------------------------------------------------------------------


def test_factory_error_keeps_cause_and_names_factory() -> None:
    write("fact.py", "def create_app(mode):\n    raise ValueError('boom')\n")
    with pytest.raises(AppFactoryError) as info:
        import_app("fact:create_app('dev')")
    assert "factory 'fact:create_app' raised ValueError: boom" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_factory_called_with_wrong_arguments() -> None:
    write("fact.py", FACTORY)
    with pytest.raises(AppFactoryError, match=r"TypeError: .*unexpected keyword argument 'port'"):
        import_app("fact:create_app(port=1)")


# -- the user's module raised ----------------------------------------------------------------


def assert_trimmed(error: AppRaisedOnImport) -> None:
    assert "simplewsgi" not in error.user_traceback
    assert "importlib" not in error.user_traceback


def test_exception_on_import_has_trimmed_traceback() -> None:
    path = write("boom.py", "import os\n\nraise ValueError('boom at import')\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("boom:app")
    error = info.value
    assert_trimmed(error)
    assert error.user_traceback.startswith("Traceback (most recent call last):")
    assert f'File "{path}", line 3' in error.user_traceback
    assert "ValueError: boom at import" in error.user_traceback
    assert "ValueError: boom at import" in str(error)
    assert (error.filename, error.lineno) == (str(path), 3)
    assert isinstance(error.__cause__, ValueError)


def test_raised_on_import_survives_pickling() -> None:
    path = write("boom.py", "raise ValueError('boom')\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("boom:app")
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, AppRaisedOnImport)
    assert (str(copy), copy.user_traceback) == (str(info.value), info.value.user_traceback)
    assert (copy.filename, copy.lineno) == (str(path), 1)


def test_import_error_inside_user_module_is_not_module_not_found() -> None:
    path = write("needs.py", "\nimport not_installed_xyz\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("needs:app")
    error = info.value
    assert not isinstance(error, AppModuleNotFound)
    assert_trimmed(error)
    assert "No module named 'not_installed_xyz'" in error.user_traceback
    assert (error.filename, error.lineno) == (str(path), 2)


def test_error_in_a_module_the_app_imports_points_at_that_module() -> None:
    app_path = write("main.py", "import helper\n")
    helper_path = write("helper.py", "x = 1\ny = {}['missing']\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("main:app")
    error = info.value
    assert_trimmed(error)
    assert f'File "{app_path}", line 1' in error.user_traceback
    assert f'File "{helper_path}", line 2' in error.user_traceback
    assert (error.filename, error.lineno) == (str(helper_path), 2)


def test_innermost_user_frame_skips_standard_library_frames() -> None:
    path = write("uses_json.py", "import json\n\njson.loads('{not json')\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("uses_json:app")
    assert "json" + os.sep + "decoder.py" in info.value.user_traceback  # library frames kept
    assert (info.value.filename, info.value.lineno) == (str(path), 3)


def test_chained_exceptions_are_trimmed_too() -> None:
    # import_module() leaves importlib frames in the cause's traceback; `import` would not.
    write(
        "chain.py",
        """
        from importlib import import_module as load

        try:
            load("nope_xyz")
        except ImportError as exc:
            raise RuntimeError("need nope") from exc
        """,
    )
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("chain:app")
    assert_trimmed(info.value)
    assert "No module named 'nope_xyz'" in info.value.user_traceback
    assert "RuntimeError: need nope" in info.value.user_traceback


def test_syntax_error_keeps_location_line_and_caret() -> None:
    path = write("broken.py", "x = 1\ndef broken(:\n    pass\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("broken:app")
    error = info.value
    assert_trimmed(error)
    assert f'File "{path}", line 2' in error.user_traceback
    assert "def broken(:" in error.user_traceback
    assert "^" in error.user_traceback
    assert "SyntaxError" in str(error)
    assert (error.filename, error.lineno) == (str(path), 2)


def test_syntax_error_in_an_imported_module_points_at_that_file() -> None:
    write("main.py", "import bad_helper\n")
    path = write("bad_helper.py", "\n\nif True\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("main.py")
    assert (info.value.filename, info.value.lineno) == (str(path), 3)
    assert_trimmed(info.value)


def test_package_init_that_raises_is_raised_on_import() -> None:
    path = write("pkg/__init__.py", "raise KeyError('cfg')\n")
    write("pkg/web.py", HELLO)
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("pkg.web:app")
    assert info.value.filename == str(path)
    assert "KeyError: 'cfg'" in str(info.value)


# -- mistakes caught at start-up rather than on every request --------------------------------


def test_sys_exit_while_importing_is_reported_not_obeyed() -> None:
    write("quits.py", "import sys\nsys.exit('config missing')\n")
    with pytest.raises(AppRaisedOnImport) as info:
        import_app("quits:app")
    assert "SystemExit" in str(info.value) or "config missing" in info.value.user_traceback


def test_sys_exit_in_a_factory_is_a_factory_error() -> None:
    write("fexit.py", "import sys\ndef create_app():\n    sys.exit('no database')\n")
    with pytest.raises(AppFactoryError, match="SystemExit: no database"):
        import_app("fexit:create_app()")


def test_a_module_shadowed_by_an_imported_stdlib_module_is_named() -> None:
    write("email.py", HELLO)
    with pytest.raises(AppImportError, match="rename it") as info:
        import_app("email")
    assert "email.py" in str(info.value)


def test_a_factory_named_without_factory_flag_is_caught() -> None:
    write("zero.py", HELLO + "\ndef create_app():\n    return app\n")
    with pytest.raises(AppNotCallable, match="looks like a factory: add --factory"):
        import_app("zero:create_app")
    assert body(import_app("zero:create_app", factory=True)) == b"hello"


def test_apps_taking_environ_and_start_response_are_not_taken_for_factories() -> None:
    write(
        "plain.py",
        HELLO + "\nclass App:\n    def __call__(self, e, s):\n        return app(e, s)\n",
    )
    assert body(import_app("plain:app")) == b"hello"
    write("star.py", "def app(*args):\n    args[1]('200 OK', [])\n    return [b'star']\n")
    assert body(import_app("star:app")) == b"star"


def test_a_module_attribute_hint_only_names_what_exists() -> None:
    write("hasos.py", "import os\n")
    with pytest.raises(AppNotCallable) as info:
        import_app("hasos:os")
    assert "is a module" in str(info.value) and "did you mean" not in str(info.value)


def test_file_path_relative_to_app_dir() -> None:
    write("src/webapp.py", HELLO)
    assert body(import_app("webapp.py", app_dir="src")) == b"hello"


@pytest.mark.parametrize("inner_init", [True, False])
def test_a_namespace_package_can_hold_the_app(inner_init: bool) -> None:
    """PEP 420: ``ns/`` without ``__init__.py`` is a package too; it has no ``__file__``."""
    write("ns/pkg/wsgi.py", HELLO)
    if inner_init:
        write("ns/pkg/__init__.py", "")
    assert body(import_app("ns.pkg.wsgi:app")) == b"hello"


def test_a_namespace_package_still_cannot_shadow_an_imported_one() -> None:
    (Path.cwd() / "email").mkdir()  # a namespace package named like the standard library's
    write("email/web.py", HELLO)
    import email  # noqa: F401 - already imported, as in a real interpreter

    with pytest.raises(AppImportError, match="cannot shadow"):
        import_app("email.web:app")
