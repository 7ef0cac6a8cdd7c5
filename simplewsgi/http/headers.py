"""The request's header fields as ``handler.headers``: case-insensitive, in arrival order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional


class RequestHeaders:
    """The request's header fields, case-insensitive, in arrival order.

    A light stand-in for the ``email.message.Message`` that ``http.server`` builds (which costs
    tens of microseconds per request); offers the methods handlers commonly call on
    ``self.headers``.
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._index: Optional[dict[str, list[str]]] = None

    def _lookup(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for name, value in self._fields:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return self._index

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self._lookup().get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str, failobj: Optional[list[str]] = None) -> Optional[list[str]]:
        values = self._lookup().get(name.lower())
        return list(values) if values else failobj

    def __getitem__(self, name: str) -> Optional[str]:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def keys(self) -> list[str]:
        return [name for name, _ in self._fields]

    def values(self) -> list[str]:
        return [value for _, value in self._fields]

    def __repr__(self) -> str:
        return f"RequestHeaders({self._fields!r})"
