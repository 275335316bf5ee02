"""Tables of signup forms: a `Form` a venue publishes and every `FormSubmission` made through it.

A submission is stored before anything else happens (the contact's consent, the confirmation
email or SMS): it is the durable record the worker sends confirmations from and the proof of what
the person was shown and where (`consent_text`, `page_url`, `ip`, `user_agent`). The consent
ledger (`audience.models.ConsentEvent`) carries the same proof for every change it made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow

# Submission states.
SUBSCRIBED = "subscribed"  # a form without double opt-in: consent given at once
PENDING = "pending"  # waiting for the email confirmation
CONFIRMED = "confirmed"
EXPIRED = "expired"  # not confirmed in time; the pending consent went back to the prior state

# Confirmation message states (email and SMS alike), at most once like campaign deliveries.
QUEUED = "queued"  # stored, not yet claimed by the worker
SENDING = "sending"  # claimed (committed) before the provider call
SENT = "sent"
FAILED = "failed"  # the provider refused it
UNKNOWN = "unknown"  # the worker died during the provider call: maybe sent, never retried
SKIPPED = "skipped"  # nothing to send (suppressed address, already subscribed, ...)


class Form(Base):
    """A signup form: what it asks, what a submission subscribes to, and the text it shows."""

    __tablename__ = "forms"
    __table_args__ = (Index("ix_forms_org_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # The unguessable part of the public URL (/f/<key>): form ids are not enumerable.
    key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Which inputs the page shows, in order: "email" always, then phone, first_name, last_name, birthday.
    fields: Mapped[list[Any]] = mapped_column(default=list)
    list_ids: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    genres: Mapped[list[Any]] = mapped_column(default=list)
    # A "notify me / pre-sale" form: the contact gets this event as an interest. No foreign key: an
    # event deleted later leaves the form and its history alone.
    event_id: Mapped[int | None] = mapped_column(BigId, default=None)
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    # The exact wording shown beside the submit button (email marketing) and beside the SMS box.
    consent_text: Mapped[str] = mapped_column(Text)
    sms_consent_text: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FormSubmission(Base):
    """One accepted submission: what the person entered, what they were shown, where from, and the
    state of its confirmation (email and SMS separately: confirming one never confirms the other)."""

    __tablename__ = "form_submissions"
    __table_args__ = (
        Index("ix_form_submissions_form", "form_id", "id"),
        Index("ix_form_submissions_contact", "contact_id"),
        # The worker's queues and the expiry job.
        Index("ix_form_submissions_email_send", "email_send_state", "id"),
        Index("ix_form_submissions_sms_send", "sms_send_state", "id"),
        Index("ix_form_submissions_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    first_name: Mapped[str | None] = mapped_column(String(200), default=None)
    last_name: Mapped[str | None] = mapped_column(String(200), default=None)
    birthday: Mapped[str | None] = mapped_column(String(10), default=None)
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    # Proof of consent: the wording as shown at that moment (the form's text may change later).
    consent_text: Mapped[str] = mapped_column(Text)
    sms_consent_text: Mapped[str | None] = mapped_column(Text, default=None)
    page_url: Mapped[str | None] = mapped_column(Text, default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(400), default=None)
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    confirm_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    confirm_user_agent: Mapped[str | None] = mapped_column(String(400), default=None)
    sms_confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    email_send_state: Mapped[str | None] = mapped_column(String(16), default=None)
    email_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    email_message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    sms_send_state: Mapped[str | None] = mapped_column(String(16), default=None)
    sms_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
