"""Worker job: run queued CSV imports one chunk at a time (see `audience.imports`)."""

from __future__ import annotations

from fanhub.audience.imports import run_import_step
from fanhub.db.engine import Database


def run_imports(database: Database) -> bool:
    return run_import_step(database)
