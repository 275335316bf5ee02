"""Connector tables: platform connections (encrypted credentials), per-stream checkpoints, webhook deliveries.

A checkpoint row is written in the same transaction as the ingest batch holding the records it
covers, so a sync killed at any moment resumes exactly where its last commit left off. A webhook
delivery is stored before the platform is answered, and the worker processes it later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow

ACTIVE = "active"
BROKEN = "broken"  # credentials rejected: no sync runs until it is reconnected
PAUSED = "paused"

PENDING = "pending"
DONE = "done"
FAILED = "failed"
IGNORED = "ignored"


class Connection(Base):
    __tablename__ = "connector_connections"
    __table_args__ = (Index("ix_connector_connections_due", "status", "next_sync_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    base_url: Mapped[str] = mapped_column(Text)
    # Fernet token of a JSON object (token / api key / password, webhook signing secret).
    credentials: Mapped[str] = mapped_column(Text)
    # Random secret in the webhook URL path; compared in constant time.
    webhook_secret: Mapped[str] = mapped_column(String(64))
    # Platform specifics: Eventbrite organization id and webhook ids, Ticketor client id, ...
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sync_interval_minutes: Mapped[int | None] = mapped_column(default=None)
    next_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    # A worker holding a sync sets this; another worker skips the connection until it passes.
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    failures: Mapped[int] = mapped_column(default=0)
    # Cumulative records handed to ingest: {"events", "orders", "contacts", "calls"}.
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    __tablename__ = "connector_checkpoints"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connector_connections.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "connector_webhook_deliveries"
    __table_args__ = (
        # NULL keys (Eventbrite, which sends no delivery id) never collide.
        UniqueConstraint("connection_id", "dedupe_key"),
        Index("ix_connector_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_connector_webhook_deliveries_ref", "connection_id", "ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connector_connections.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    platform: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str | None] = mapped_column(String(300), default=None)
    # What the delivery is about (Eventbrite api_url, Ticketor invoice id) for coalescing and joins.
    ref: Mapped[str | None] = mapped_column(String(500), default=None)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
