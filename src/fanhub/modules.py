"""Optional domain modules: later domains plug their routers, jobs and commands in by being importable."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_if_present(name: str) -> ModuleType | None:
    """Import `name`, or return None when it (or its package) does not exist; real import errors propagate."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise
