"""The tables of a CSV import: the upload and its settings, its chunks of rows, and each row's issues."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow

CHUNK_ROWS = 5000
PREVIEW_ROWS = 5

DRAFT, QUEUED_IMPORT, RUNNING, APPLYING, DONE, FAILED_IMPORT = (
    "draft",
    "queued",
    "running",
    "applying",
    "done",
    "failed",
)
UPLOADING = "uploading"
REJECTED, SKIPPED_VALUE = "rejected", "skipped"
COUNTED_STATES = ("subscribed", "unsubscribed")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class ContactImport(Base):
    __tablename__ = "contact_imports"
    __table_args__ = (Index("ix_contact_imports_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    filename: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    # The email mode (`mode`, named before SMS had its own) and the SMS mode. An import made before
    # the SMS mode existed has sms_mode NULL: it applied `mode` to SMS as well (see `import_review`).
    mode: Mapped[str | None] = mapped_column(String(40), default=None)
    sms_mode: Mapped[str | None] = mapped_column(String(40), default=None)
    consent_confirmed: Mapped[bool] = mapped_column(default=False)
    sms_consent_confirmed: Mapped[bool] = mapped_column(default=False)
    header: Mapped[list[Any]] = mapped_column(default=list)
    preview: Mapped[list[Any]] = mapped_column(default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tag_ids: Mapped[list[Any]] = mapped_column(default=list)
    list_ids: Mapped[list[Any]] = mapped_column(default=list)
    total_rows: Mapped[int] = mapped_column(default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    next_chunk: Mapped[int] = mapped_column(default=0)
    enqueued_rows: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    merged: Mapped[int] = mapped_column(default=0)
    consent_changes: Mapped[int] = mapped_column(default=0)
    # Per channel: how many contacts were subscribed, unsubscribed, left unchanged (set when done).
    counts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # When an admin reviewed what an import made before SMS had its own mode did to SMS (see import_review).
    sms_reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ImportChunk(Base):
    __tablename__ = "contact_import_chunks"
    __table_args__ = (UniqueConstraint("import_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    first_row: Mapped[int] = mapped_column()
    rows: Mapped[str] = mapped_column(Text)


class ImportIssue(Base):
    """A row not imported, or a value skipped in an imported row: its number in the file (header = row 1) and why."""

    __tablename__ = "contact_import_issues"
    __table_args__ = (Index("ix_contact_import_issues_import", "import_id", "row"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column()
    # "rejected": the row was not imported; "skipped": the row was imported without this value.
    outcome: Mapped[str] = mapped_column(String(16), default=REJECTED)
    field: Mapped[str | None] = mapped_column(String(40), default=None)
    value: Mapped[str | None] = mapped_column(Text, default=None)
    message: Mapped[str] = mapped_column(Text)
