"""Tables of the audience: contacts, their source records, the consent ledger, tags, lists, genres, interests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
UNKNOWN = "unknown"
# Asked for through a double opt-in form and not yet confirmed: never receives marketing.
PENDING = "pending"
# Every consent state a contact's channel can be in (read API, manager, MCP schemas).
CONSENT_STATES = (SUBSCRIBED, UNSUBSCRIBED, PENDING, UNKNOWN)


class Contact(Base):
    """One person in one organization, keyed by normalised email and by E.164 phone."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("organization_id", "email"),
        UniqueConstraint("organization_id", "phone"),
        Index("ix_contacts_org_id", "organization_id", "id"),
        # Audience counts per channel (segments, dashboard); created by migration 0004.
        Index("ix_contacts_org_email_status", "organization_id", "email_status"),
        Index("ix_contacts_org_sms_status", "organization_id", "sms_status"),
        # The contacts table sorted by created or by name, keyset-paged on (value, id); migration 0013.
        Index("ix_contacts_org_created", "organization_id", "created_at", "id"),
        Index("ix_contacts_org_name", "organization_id", text("lower(full_name)"), "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    first_name: Mapped[str | None] = mapped_column(String(200), default=None)
    last_name: Mapped[str | None] = mapped_column(String(200), default=None)
    full_name: Mapped[str | None] = mapped_column(String(400), default=None)
    address: Mapped[str | None] = mapped_column(Text, default=None)
    postal_code: Mapped[str | None] = mapped_column(String(20), default=None)
    ip_address: Mapped[str | None] = mapped_column(String(64), default=None)
    birthday: Mapped[str | None] = mapped_column(String(10), default=None)
    # Cached current consent state; the ledger (ConsentEvent) is the truth, updated in the same transaction.
    email_status: Mapped[str] = mapped_column(String(16), default=UNKNOWN)
    email_status_at: Mapped[datetime | None] = mapped_column(default=None)
    sms_status: Mapped[str] = mapped_column(String(16), default=UNKNOWN)
    sms_status_at: Mapped[datetime | None] = mapped_column(default=None)
    # Engagement with each subscription, 1-5 stars (the rule: deliverability/engagement.py); kept
    # here so the contacts table, segments and the API read it without recomputing. 3 = no data yet.
    email_rating: Mapped[int] = mapped_column(SmallInteger, default=3, server_default="3")
    sms_rating: Mapped[int] = mapped_column(SmallInteger, default=3, server_default="3")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the person's data was erased (privacy/erase.py): the row stays, anonymous, so orders,
    # deliveries and campaign figures keep pointing at it.
    erased_at: Mapped[datetime | None] = mapped_column(default=None)


class ContactSource(Base):
    """A source's view of a person that was merged into a contact (what that source called them)."""

    __tablename__ = "contact_sources"
    __table_args__ = (
        UniqueConstraint("contact_id", "source"),
        # A data-rights request by address finds the contacts a source knew by it (migration 0018).
        Index("ix_contact_sources_org_email", "organization_id", "email"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    name: Mapped[str | None] = mapped_column(String(400), default=None)
    records: Mapped[int] = mapped_column(default=1)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentEvent(Base):
    """Append-only consent ledger: one row per change of a contact's email or SMS subscription."""

    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_contact", "contact_id", "channel", "id"),
        # Subscriptions over time (dashboard chart); created by migration 0004.
        Index("ix_consent_events_org_occurred", "organization_id", "occurred_at", "subscribed"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    # The state after the change: "subscribed", "unsubscribed", "pending" (a double opt-in form
    # waiting for its confirmation), or "unknown" (an import's SMS subscription reverted by
    # `fanhub contacts import-review --revert`, or a pending form consent that expired). `subscribed` is True exactly
    # when the state is "subscribed" (kept for the subscriptions-over-time index).
    status: Mapped[str] = mapped_column(String(16))
    subscribed: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(120))
    # How the source said it: "contact.opt_ins", "order.marketing_opt_ins", "unsubscribe_link", "sms_stop", ...
    via: Mapped[str] = mapped_column(String(40))
    raw_value: Mapped[str | None] = mapped_column(String(200), default=None)
    # Who confirmed it when a person did, e.g. "staff:3" for the user who confirmed an import's consent.
    actor: Mapped[str | None] = mapped_column(String(200), default=None)
    batch_id: Mapped[str | None] = mapped_column(String(32), default=None)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Proof of consent for changes made through a signup form (`fanhub.forms`): which form, the exact
    # wording shown, the page it was on (Referer, or Origin for an embedded form), IP and user agent.
    # No foreign key to forms: the ledger sits below the forms layer and outlives a deleted form.
    form_id: Mapped[int | None] = mapped_column(BigId, default=None)
    consent_text: Mapped[str | None] = mapped_column(Text, default=None)
    page_url: Mapped[str | None] = mapped_column(Text, default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(400), default=None)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_tag", "tag_id", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class AudienceList(Base):
    __tablename__ = "lists"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    # A public list is shown on every recipient's preference center (/p/...), where people join or
    # leave it themselves; a private one only to its members (issue 21, migration 0017).
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactList(Base):
    __tablename__ = "contact_lists"
    __table_args__ = (Index("ix_contact_lists_list", "list_id", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)


class ContactGenre(Base):
    __tablename__ = "contact_genres"
    __table_args__ = (Index("ix_contact_genres_genre", "genre", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    genre: Mapped[str] = mapped_column(String(60), primary_key=True)


class ContactInterest(Base):
    """A contact's interest in an event: `interested_in_event` or the `ticket_url` of a subscribe form."""

    __tablename__ = "contact_interests"
    __table_args__ = (Index("ix_contact_interests_contact", "contact_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(120))
    event_external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    ticketer: Mapped[str | None] = mapped_column(String(60), default=None)
    ticket_url: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelChangeLog(Base):
    """One bulk change of a tag or list (a selection or a whole filter), kept so it can be undone.

    The contacts it really changed are rows of `label_change_members`, not a list of ids in this
    row: a change over a whole filter may touch a million contacts, and as rows they are written
    batch by batch as the change goes and read back set-based (INSERT ... SELECT, DELETE ... IN
    (SELECT ...)) by the undo, in the same bounded batches.
    """

    __tablename__ = "label_changes"
    __table_args__ = (Index("ix_label_changes_org_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # `Actor.audit` of who made it ("staff:3", "mcp:key:7", ...).
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # "tag" | "list"
    # No foreign key: the tag or list may be deleted later; its name stays for the history.
    label_id: Mapped[int] = mapped_column(BigId)
    label_name: Mapped[str] = mapped_column(String(200))
    added: Mapped[bool] = mapped_column(Boolean)
    # "selection" (explicit ids) or "filter" (every contact matching a filter)
    scope: Mapped[str] = mapped_column(String(16))
    # "running" while a filter change goes batch by batch, then "done" (or "stopped" on an error).
    status: Mapped[str] = mapped_column(String(16))
    contacts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(default=None)
    undone_by: Mapped[str | None] = mapped_column(String(64), default=None)


class LabelChangeMember(Base):
    """A contact a label change really changed (it lacked the tag it got, or had the one removed)."""

    __tablename__ = "label_change_members"

    change_id: Mapped[int] = mapped_column(ForeignKey("label_changes.id", ondelete="CASCADE"), primary_key=True)
    # No foreign key to contacts: deleting or merging a contact must not scan this table; the undo
    # acts only on contacts that still exist.
    contact_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class ListOptOut(Base):
    """A list the person left themselves (preference center): old records naming it (Partners API,
    connectors, imports) do not put them back; the rule is `audience/list_optouts.py` (issue 21)."""

    __tablename__ = "list_optouts"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    via: Mapped[str] = mapped_column(String(32))
