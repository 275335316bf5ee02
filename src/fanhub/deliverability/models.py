"""Bounces and complaints as they arrived, one row per failed recipient per report.

They are the evidence behind suppressions (soft bounces are counted per address over 30 days) and
the per-campaign bounce and complaint figures. `replay_key` is unique, so the same DSN imported
twice, or a provider delivering the same event again, changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow


class Bounce(Base):
    __tablename__ = "bounces"
    __table_args__ = (
        Index("ix_bounces_org_address", "organization_id", "address", "occurred_at"),
        Index("ix_bounces_campaign", "campaign_id", "kind"),
        Index("ix_bounces_org_warning", "organization_id", "sender_warning", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(12))  # hard | soft | complaint
    reason: Mapped[str] = mapped_column(String(60))
    status: Mapped[str | None] = mapped_column(String(20), default=None)
    diagnostic: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[str] = mapped_column(String(40))  # smtp | dsn | arf | heuristic:<mta> | ses | sendgrid | ...
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), default=None)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_deliveries.id", ondelete="SET NULL"), default=None
    )
    matched_by: Mapped[str] = mapped_column(String(20))  # verp | message_id | metadata | address | smtp
    sender_warning: Mapped[bool] = mapped_column(Boolean, default=False)
    replay_key: Mapped[str] = mapped_column(String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
