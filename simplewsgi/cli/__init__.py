"""The ``simplewsgi`` command line: the top floor, imported only by ``__main__`` and the script.

:mod:`.commands` holds the click group and every option; :mod:`.completion` the ``completion``
command and APP candidates; :mod:`.shells` the pinned completion scripts.
"""

from simplewsgi.cli.commands import main

__all__ = ["main"]
