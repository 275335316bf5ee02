"""Worker job: run queued CSV imports one chunk at a time (see `imports.service`)."""

from __future__ import annotations

from fanhub.db.engine import Database
from fanhub.imports.service import run_import_step


def run_imports(database: Database) -> bool:
    return run_import_step(database)
