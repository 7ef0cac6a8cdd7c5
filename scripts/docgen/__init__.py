"""The docs generator: the man page and the shell completion scripts, from the click tree.

:mod:`.roff` turns text into roff, :mod:`.manpage` builds the page, :mod:`.files` writes or
checks every generated file. Run it as ``python scripts/gen_docs.py [--check]``.
"""
