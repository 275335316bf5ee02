"""The ingest tables: every accepted batch with its apply status, and its payload beside it.

The payload (up to 5 MB of JSON) lives in its own write-once table so that the queue's hot,
small rows (claimed, counted and updated as batches are applied) are never rewritten or read
through their payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow

QUEUED = "queued"
APPLIED = "applied"
FAILED = "failed"


class IngestBatch(Base):
    """A batch of canonical records exactly as accepted; also the audit log and the replay tool."""

    __tablename__ = "ingest_batches"
    __table_args__ = (Index("ix_ingest_batches_queue", "status", "organization_id", "id"),)

    # `id` gives the arrival order; `public_id` is what clients see as batch_id.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    source: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    item_count: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(default=None)
    # "host:pid" of the worker that applied it, for operators chasing a slow or stuck worker.
    applied_by: Mapped[str | None] = mapped_column(String(120), default=None)


class IngestPayload(Base):
    """The canonical JSON of one batch, exactly as accepted."""

    __tablename__ = "ingest_payloads"

    batch_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ingest_batches.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    payload: Mapped[str] = mapped_column(Text)
