"""Tables of the catalog: events with ticket types, orders with items (money in minor units)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("organization_id", "source", "external_id"),
        Index("ix_events_org_start", "organization_id", "start_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    source: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text, default=None)
    image_url: Mapped[str | None] = mapped_column(Text, default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="live")
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None] = mapped_column(default=None)
    doors_open_at: Mapped[datetime | None] = mapped_column(default=None)
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    location_name: Mapped[str | None] = mapped_column(Text, default=None)
    location_address: Mapped[str | None] = mapped_column(Text, default=None)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    performers: Mapped[list[Any]] = mapped_column(default=list)
    # Digest of the canonical record last applied: an identical re-send is skipped entirely.
    record_hash: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketType(Base):
    __tablename__ = "ticket_types"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    prefee_cents: Mapped[int | None] = mapped_column(default=None)
    total_cents: Mapped[int | None] = mapped_column(default=None)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    quantity: Mapped[int | None] = mapped_column(default=None)


class Order(Base):
    """An order; money in integer minor units of `currency`, `status` completed|refunded|canceled."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("organization_id", "source", "external_id"),
        Index("ix_orders_org_contact", "organization_id", "contact_id"),
        Index("ix_orders_org_event", "organization_id", "event_id"),
        Index("ix_orders_org_event_ext", "organization_id", "source", "event_external_id"),
        # A contact's last completed order (the contacts table sorted by it); migration 0013.
        Index("ix_orders_contact_last", "contact_id", "status", "placed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    source: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str] = mapped_column(String(200))
    event_external_id: Mapped[str] = mapped_column(String(200))
    # Set once the event is known; an order may arrive before its event.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), default=None)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(16), default="completed")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    prefee_cents: Mapped[int] = mapped_column(default=0)
    total_cents: Mapped[int] = mapped_column(default=0)
    refunded_cents: Mapped[int] = mapped_column(default=0)
    tickets: Mapped[int] = mapped_column(default=0)
    email_opt_in: Mapped[bool | None] = mapped_column(default=None)
    sms_opt_in: Mapped[bool | None] = mapped_column(default=None)
    customer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    record_hash: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    ticket_type_name: Mapped[str | None] = mapped_column(Text, default=None)
    quantity: Mapped[int] = mapped_column(default=1)
    prefee_cents: Mapped[int | None] = mapped_column(default=None)
    total_cents: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
