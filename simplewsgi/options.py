"""The one frozen options object that the CLI builds and the runner, reloader and worker read.

Every option of ``simplewsgi serve`` is a field here exactly once; the CLI maps click options
onto it and the supervisor hands it to its workers as JSON in an environment variable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

COLOR_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True)
class ServeOptions:
    """What to serve and how; defaults are the CLI's defaults."""

    app: Optional[str] = None  # "module:attr" and friends; None serves demo_app
    factory: bool = False
    app_dir: str = "."
    host: str = "127.0.0.1"
    port: int = 8000
    color: str = "auto"
    access_log: bool = True
    reload: bool = False
    reload_dirs: tuple[str, ...] = ()
    reload_include: tuple[str, ...] = ()
    reload_exclude: tuple[str, ...] = ()
    reload_poll: bool = False

    def to_json(self) -> str:
        import json  # here: the plain CLI start-up does not need it

        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        import json

        data = json.loads(text)
        for field in dataclasses.fields(cls):
            if isinstance(data.get(field.name), list):
                data[field.name] = tuple(data[field.name])
        return cls(**data)
