"""The package's name and version, in a module of its own so every module can import them
without cycles."""

import sys

NAME = "simplewsgi"
__version__ = "0.1.0"
# "3.11.7": the Python the server runs on, as the banner and --version show it.
PYTHON_VERSION = ".".join(str(part) for part in sys.version_info[:3])
