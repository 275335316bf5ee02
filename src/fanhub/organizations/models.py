"""The organization table: the tenant and its settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    phone_region: Mapped[str | None] = mapped_column(String(2), default=None)
    email_attribution_days: Mapped[int] = mapped_column(default=10)
    sms_attribution_days: Mapped[int] = mapped_column(default=7)
    # The From of the organization's campaign emails; FANHUB_MAIL_FROM when unset.
    sender_name: Mapped[str | None] = mapped_column(String(200), default=None)
    sender_email: Mapped[str | None] = mapped_column(String(320), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
