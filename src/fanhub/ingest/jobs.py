"""Worker job: apply queued ingest batches."""

from __future__ import annotations

from fanhub.db.engine import Database
from fanhub.ingest.service import apply_next_batches


def apply_batches(database: Database) -> bool:
    # A few transactions per turn keeps ingest fast while letting other jobs run between turns.
    for turn in range(5):
        if not apply_next_batches(database):
            return turn > 0
    return True
