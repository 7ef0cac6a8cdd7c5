"""Rules of ARCHITECTURE.md that import-linter cannot check: what the HTTP core may import,
and how long a module may grow."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simplewsgi"
MAX_MODULE_LINES = 450  # "about 400": a module past this has more than one job


def _imported(path: Path) -> set[str]:
    """Top-level names of the modules ``path`` imports (absolute imports)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
def test_the_http_core_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__", "_typeshed", "simplewsgi"}
    for path in sorted((PACKAGE / "http").glob("*.py")):
        foreign = _imported(path) - allowed
        assert not foreign, f"{path.name} imports {sorted(foreign)}"
        ours = {
            node.module
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("simplewsgi")
        }
        assert all(name.startswith("simplewsgi.http") for name in ours), (path.name, ours)


def test_no_module_outgrows_one_job() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 20
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
