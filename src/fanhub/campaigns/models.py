from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_org_type", "organization_id", "type", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    type: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(Text, default=None)
    body: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), default=None)
    # draft | scheduled | sending | sent
    status: Mapped[str] = mapped_column(String(16), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
