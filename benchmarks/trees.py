"""``--tree NAME=DIR``, as the benchmarks take it: another checkout of simplewsgi to measure.

A DIR without the package would not fail: the servers put it on ``PYTHONPATH``, find nothing
there, and import the installed simplewsgi instead, so a "before" would quietly measure this
tree. It is refused when the arguments are read.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def tree_argument(value: str) -> tuple[str, str]:
    """``NAME=DIR`` -> (NAME, DIR); an ``argparse`` type."""
    name, sep, folder = value.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {value!r}")
    if not (Path(folder) / "simplewsgi" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{folder} has no simplewsgi package (a checkout?)")
    return name, folder


def add_tree_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        type=tree_argument,
        metavar="NAME=DIR",
        help="another checkout of simplewsgi, measured beside this one",
    )
