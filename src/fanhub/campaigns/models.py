"""Campaign tables: the campaign, one delivery per recipient, tracking events, attributions, counters.

`Delivery` is the unit of sending and of tracking: one row per campaign x contact, created when a
campaign starts sending (see `campaigns.sending` for the state machine). Opens, clicks,
unsubscribes and failures point at a delivery. `CampaignStats` holds pre-aggregated counters per
campaign, updated in the same transaction as the rows they count, so the analytics endpoint reads
one row per campaign instead of counting millions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow

EMAIL = "email"
SMS = "sms"

# Campaign.status
DRAFT = "draft"
SCHEDULED = "scheduled"
SENDING = "sending"
PAUSED = "paused"  # was sending; no new slices until resumed (see campaigns/lifecycle.py)
SENT = "sent"
CANCELLED = "cancelled"  # stopped for good after sending started; unsent deliveries stay pending

# Delivery.status
PENDING = "pending"  # waiting to be sent
RESERVED = "reserved"  # taken by a worker's slice, not attempted yet (safe to hand back after a crash)
ATTEMPTING = "sending"  # handed to the provider; committed BEFORE the provider call
DELIVERED = "sent"  # the provider accepted the message
FAILED = "failed"  # rejected by the provider, or reported undelivered later
SKIPPED = "skipped"  # no longer subscribed when its turn came
UNKNOWN = "unknown"  # a worker died during the provider call: maybe sent, never retried (at-most-once)
# The recipient's server said "try later" (SMTP 4xx for this recipient): sent again at
# `next_attempt_at`, with exponential backoff, until `DEFER_HOURS` after the first deferral
# (then a soft bounce); see campaigns/sending/pipe.py.
DEFERRED = "deferred"


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_org_type", "organization_id", "type", "id"),
        Index("ix_campaigns_flow_step", "flow_id", "flow_step", "flow_round"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    type: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(Text, default=None)
    body: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), default=None)
    # draft | scheduled | sending | paused | sent | cancelled (the rules: campaigns/lifecycle.py)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)  # set while paused
    # Why it paused when it paused itself (the reputation guard, campaigns/guard.py); None when staff did.
    paused_reason: Mapped[str | None] = mapped_column(Text, default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A hidden step campaign of an automation (flows/engine.py): the flow, the step's index and the
    # round (a contact's n-th pass through that step, for reentry per_trigger). Campaign lists,
    # the scheduler and the campaign analytics leave these out.
    flow_id: Mapped[int | None] = mapped_column(BigId, default=None)  # flows.id; no FK, campaigns sit below flows
    flow_step: Mapped[int | None] = mapped_column(default=None)
    flow_round: Mapped[int | None] = mapped_column(default=None)


class CampaignStats(Base):
    """Counters per campaign (unique recipients where the API says so), kept in step with the event rows."""

    __tablename__ = "campaign_stats"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    recipients: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    undelivered: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    unknown: Mapped[int] = mapped_column(default=0)
    opens: Mapped[int] = mapped_column(default=0)  # unique recipients with a counted (human) open
    machine_opens: Mapped[int] = mapped_column(default=0)  # unique recipients whose first open was a machine's
    open_events: Mapped[int] = mapped_column(default=0)  # every pixel fetch, machines included
    clickers: Mapped[int] = mapped_column(default=0)  # unique recipients who clicked
    click_events: Mapped[int] = mapped_column(default=0)
    unsubscribes: Mapped[int] = mapped_column(default=0)
    # Deliverability (deliverability/apply.py): bounces reported after delivery or at SMTP time,
    # spam complaints, and addresses left out because they were suppressed (never recipients).
    hard_bounces: Mapped[int] = mapped_column(default=0, server_default="0")
    soft_bounces: Mapped[int] = mapped_column(default=0, server_default="0")
    complaints: Mapped[int] = mapped_column(default=0, server_default="0")
    suppressed: Mapped[int] = mapped_column(default=0, server_default="0")
    attributed_orders: Mapped[int] = mapped_column(default=0)
    attributed_tickets: Mapped[int] = mapped_column(default=0)
    attributed_revenue: Mapped[int] = mapped_column(default=0)  # minor units
    send_per_second: Mapped[float | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Time spent paused by finished pauses (the rate and estimated finish leave it out).
    paused_seconds: Mapped[int] = mapped_column(default=0, server_default="0")


class Delivery(Base):
    __tablename__ = "campaign_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_deliveries_campaign_status", "campaign_id", "status", "id"),
        # Attribution: the latest message delivered to a buyer before an order.
        Index("ix_campaign_deliveries_contact_sent", "contact_id", "sent_at"),
        Index("ix_campaign_deliveries_provider", "provider_id"),
        # Bounces with no token or Message-ID: the latest delivery to the failed address.
        Index("ix_campaign_deliveries_address_sent", "address", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    reserved_by: Mapped[str | None] = mapped_column(String(120), default=None)
    reserved_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    provider_id: Mapped[str | None] = mapped_column(String(200), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)  # DEFERRED: when to try again
    deferred_since: Mapped[datetime | None] = mapped_column(default=None)  # the first deferral
    opened_at: Mapped[datetime | None] = mapped_column(default=None)  # first counted open
    machine_opened_at: Mapped[datetime | None] = mapped_column(default=None)
    clicked_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)


class CampaignLink(Base):
    """A link of a campaign; click tokens name a link id, so the redirect can only go to these URLs."""

    __tablename__ = "campaign_links"
    __table_args__ = (Index("ix_campaign_links_campaign", "campaign_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    is_event_link: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Open(Base):
    __tablename__ = "campaign_opens"
    __table_args__ = (
        Index("ix_campaign_opens_campaign_time", "campaign_id", "occurred_at"),
        Index("ix_campaign_opens_delivery", "delivery_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("campaign_deliveries.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    machine: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why it was flagged ("fast", "apple_mpp", "scanner") or noted ("proxy:google" counts as human).
    reason: Mapped[str | None] = mapped_column(String(40), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(400), default=None)
    ip_address: Mapped[str | None] = mapped_column(String(64), default=None)


class Click(Base):
    __tablename__ = "campaign_clicks"
    __table_args__ = (
        Index("ix_campaign_clicks_campaign_time", "campaign_id", "occurred_at"),
        Index("ix_campaign_clicks_delivery", "delivery_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("campaign_deliveries.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("campaign_links.id", ondelete="CASCADE"))
    is_event_link: Mapped[bool] = mapped_column(Boolean, default=False)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    machine: Mapped[bool] = mapped_column(Boolean, default=False)
    user_agent: Mapped[str | None] = mapped_column(String(400), default=None)
    ip_address: Mapped[str | None] = mapped_column(String(64), default=None)


class Unsubscribe(Base):
    __tablename__ = "campaign_unsubscribes"
    __table_args__ = (
        UniqueConstraint("delivery_id"),
        Index("ix_campaign_unsubscribes_campaign", "campaign_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("campaign_deliveries.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    method: Mapped[str] = mapped_column(String(20))  # page | one_click | sms_stop
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryFailure(Base):
    __tablename__ = "campaign_delivery_failures"
    __table_args__ = (Index("ix_campaign_delivery_failures_delivery", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("campaign_deliveries.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # smtp_rejected | smtp_error | sms_rejected | sms_status
    code: Mapped[str | None] = mapped_column(String(20), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    permanent: Mapped[bool] = mapped_column(Boolean, default=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attribution(Base):
    """An order credited to a campaign, computed once when the order first arrives (see attribution.py)."""

    __tablename__ = "campaign_attributions"
    __table_args__ = (
        UniqueConstraint("order_id"),
        Index("ix_campaign_attributions_campaign", "campaign_id", "placed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("campaign_deliveries.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str] = mapped_column(String(40))  # email_open | sms_click
    window_days: Mapped[int]
    delivered_at: Mapped[datetime]
    touch_at: Mapped[datetime]  # the open (email) or click (SMS) that qualified
    placed_at: Mapped[datetime]
    tickets: Mapped[int] = mapped_column(default=0)
    revenue_cents: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
