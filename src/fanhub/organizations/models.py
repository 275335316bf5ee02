"""The organization table (the tenant and its settings) and its sending domains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, false
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
    # Automations (issue 20), in the organization's time zone: no SMS from start to end ("HH:MM"),
    # at most max_messages_per_day marketing messages (campaigns and flows) per contact per calendar
    # day, and what a flow step over that cap does unless the flow says: "defer" or "drop".
    quiet_hours_start: Mapped[str] = mapped_column(String(5), default="21:00", server_default="21:00")
    quiet_hours_end: Mapped[str] = mapped_column(String(5), default="08:00", server_default="08:00")
    max_messages_per_day: Mapped[int] = mapped_column(default=2, server_default="2")
    over_cap: Mapped[str] = mapped_column(String(8), default="defer", server_default="defer")
    # Sunset (deliverability/sunset.py): when on, an email subscriber who received
    # sunset_after_emails marketing emails over at least sunset_min_days with no counted open, click
    # or purchase is suppressed (reason "unengaged"); off by default.
    sunset_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sunset_after_emails: Mapped[int] = mapped_column(default=20, server_default="20")
    sunset_min_days: Mapped[int] = mapped_column(default=90, server_default="90")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendingDomain(Base):
    """A domain an organization sends email from, with the DKIM key fanhub generated for it
    (see `organizations.sending_domains`)."""

    __tablename__ = "sending_domains"
    __table_args__ = (UniqueConstraint("organization_id", "domain"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    domain: Mapped[str] = mapped_column(String(253))  # lower case, ASCII (IDNA)
    selector: Mapped[str] = mapped_column(String(63))
    # The RSA private key as PKCS#8 PEM, Fernet-encrypted with the deployment secret (fanhub.secrets).
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    # base64 DER SubjectPublicKeyInfo: the p= of the DKIM record.
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last DNS check: [{"type", "name", "purpose", "expected", "state", "found", "message"}, ...]
    check_results: Mapped[list[Any] | None] = mapped_column(default=None)
