"""``python -m simplewsgi``: the same command-line interface as the ``simplewsgi`` script."""

from simplewsgi.cli import main

if __name__ == "__main__":
    main()
