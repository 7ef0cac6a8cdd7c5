"""Plain text to roff for man(7) pages: escaping, bold names, click help paragraphs, small prose.

Rules: every piece of text goes through :func:`escape` (backslashes, and hyphens as ``\\-`` so
options render as ASCII minus signs that can be copied into a shell); a line never starts with
``.`` or ``'``; names are never hyphenated (``\\%``).
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# Made bold in running text: options (--port, -p) and environment variables ($SIMPLEWSGI_APP).
_INLINE = re.compile(r"(?<![\w/.-])(--?[A-Za-z][\w-]*|\$?[A-Z][A-Z0-9]*_[A-Z0-9_]+)")


def escape(text: str) -> str:
    """Text for roff: backslashes and hyphens escaped (``\\-`` is the ASCII minus of options)."""
    return text.replace("\\", "\\e").replace("-", "\\-")


def line(text: str) -> str:
    """One input line: a leading ``.`` or ``'`` would be read as a request."""
    return "\\&" + text if text.startswith((".", "'")) else text


def inline(text: str) -> str:
    """Escaped text with option names and environment variables in bold."""
    parts = _INLINE.split(text)
    return "".join(bold(part) if i % 2 else escape(part) for i, part in enumerate(parts))


def bold(text: str) -> str:
    return f"\\fB\\%{escape(text)}\\fR"  # \% : never hyphenate a name


def italic(text: str) -> str:
    return f"\\fI\\%{escape(text)}\\fR"


def quoted(text: str) -> str:
    """A macro argument."""
    return '"' + escape(text).replace('"', "\\(dq") + '"'


def help_paragraphs(text: str, next_paragraph: str) -> list[str]:
    """click help text as roff: paragraphs filled, ``\\b`` paragraphs verbatim. The first
    paragraph needs no macro (it follows a tag or a heading); later ones start with
    ``next_paragraph`` (``.IP`` inside a tagged paragraph, ``.PP`` otherwise)."""
    out: list[str] = []
    text = inspect.cleandoc(text.split("\f")[0])
    for i, paragraph in enumerate(re.split(r"\n\s*\n", text)):
        lines = paragraph.splitlines()
        if i:
            out.append(next_paragraph)
        if lines[0].strip() == "\b":
            out += [".nf", *(line(inline(text)) for text in lines[1:]), ".fi"]
        else:
            out.append(line(inline(" ".join(text.strip() for text in lines))))
    return out


def prose(items: Iterable[str | tuple[str, str]]) -> list[str]:
    """Hand-written prose as roff: a string is a paragraph (options and variables in bold), a
    string starting with ``"$ "`` a verbatim command line (consecutive ones form one block), and
    a ``(tag, text)`` pair a tagged paragraph."""
    out: list[str] = []
    verbatim = False
    for item in items:
        if isinstance(item, tuple):
            tag, text = item
            out += [".TP", bold(tag), line(inline(text))]
            verbatim = False
        elif item.startswith("$ "):
            if not verbatim:
                out += [".PP", ".RS 4", ".nf"]
            elif out[-2:] == [".fi", ".RE"]:
                del out[-2:]
            out += [line(escape(item[2:])), ".fi", ".RE"]
            verbatim = True
        else:
            out += [".PP", line(inline(item))]
            verbatim = False
    return out
