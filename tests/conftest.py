from __future__ import annotations

from typing import Any

import pytest

from tests.browser import browser  # noqa: F401 - fixture: headless Chromium
from tests.commandline import launch, parsed  # noqa: F401 - fixtures: the command, its parsing


class ServerStderr:
    """What server threads wrote to sys.stderr (access log, tracebacks), via pytest's capsys,
    which replaces sys.stderr process-wide for the duration of the test."""

    def __init__(self, capsys: Any) -> None:
        self.capsys = capsys
        self.text = ""

    def getvalue(self) -> str:
        self.text += self.capsys.readouterr().err
        return self.text


# Tests that run the simplewsgi command, the reloader or a shell as real subprocesses: the slow
# tier, deselected with -m "not e2e" for a fast run.
E2E_MODULES = (
    "test_cli",
    "test_reloader",
    "test_faults",
    "test_load",
    "test_config_cli",
    "test_serving_layers",
    "test_tls_cli",
    "test_debug_cli",
    "test_lint_cli",
    "test_config_edges",
    "test_container",
    "test_reload_env",
    "test_port_rescue_cli",
    "test_keys",
    "test_live_browser",
    "test_live_cli",
    # tests/compat/: frameworks' apps served by the command
    "test_flask",
    "test_flask_reload",
    "test_flask_browser",
    "test_django",
    "test_small_frameworks",
    "test_compat_skips",
    "test_lint_quiet",
)
E2E_FIXTURES = ("shell_env", "launch", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module else ""  # type: ignore[attr-defined]
        if module in E2E_MODULES or set(E2E_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def stderr(capsys: Any) -> ServerStderr:
    return ServerStderr(capsys)
