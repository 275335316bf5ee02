"""Worker job: apply queued ingest batches."""

from __future__ import annotations

from fanhub.db.engine import Database
from fanhub.ingest.service import apply_next_batch
from fanhub.worker import job


@job("ingest.apply")
def apply_batches(database: Database) -> bool:
    # Several batches per turn keeps ingest fast while letting other jobs run between turns.
    for turn in range(20):
        if not apply_next_batch(database):
            return turn > 0
    return True
