#!/usr/bin/env python3
"""Regenerate man/simplewsgi.1 and completions/* from the click command tree.

    python scripts/gen_docs.py          # write the files
    python scripts/gen_docs.py --check  # exit 1 and show a diff when a file is out of date

The logic lives in scripts/docgen/ (outside the wheel) so that the tests can import it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's simplewsgi and scripts/, installed or not

from scripts.docgen.files import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--root", str(ROOT), *sys.argv[1:]]))
