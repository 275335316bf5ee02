"""Queries on ingest batches start here: the organization filter (see `db/repository.py`)."""

from __future__ import annotations

from fanhub.db.repository import Repository
from fanhub.ingest.models import IngestBatch


class BatchRepository(Repository[IngestBatch]):
    model = IngestBatch
    noun = "batch"
