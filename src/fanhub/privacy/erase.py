"""Erasure (GDPR Art. 17): removes one person's personal data everywhere fanhub keeps it, while the
organization's figures stay exactly as they were.

What goes: the contact's fields (email, phone, names, address, postal code, IP, birthday), its
source records, tags, lists, genres and event interests, the buyer fields of its orders, the raw
values and proof (IP, user agent, page) of its consent ledger, its deliveries' addresses and
errors, the IPs and user agents of its opens and clicks, its delivery failures' details, the
address and diagnostic of bounces to its addresses, the details of audit entries about it, and its
form submissions.

What stays, anonymous: the contact row (with `erased_at`), the orders with their amounts and
items, the deliveries with their states and times, opens, clicks, unsubscribes, attributions, the
ledger's entries (who, how, when, without the values) and the campaign counters, so revenue reports
and campaign analytics give the same numbers before and after. Any subscription is ended through
the consent rules first (`via: erasure`), so the anonymous row counts as an opt-out, not a
subscriber.

Every address the person was known by (their own and their source records') goes on the
suppression list only as a keyed hash with reason `erased` (`audience/suppression.py`); the rule
that keeps later records from re-subscribing it is `audience/consent.may_subscribe_after_erasure`.

Every statement is keyed by an index (the contact id, its delivery ids, the organization and
address), so erasing one contact among millions takes milliseconds (bench/erase.py). The raw
batches ingest keeps as its replay store, and the other copies not keyed by contact (CSV import
rows, webhook bodies, the MCP call log, suppression removals in the audit log:
`privacy/stores.py`), are redacted afterwards, by the worker (`privacy/redact.py`). Audited as
`contact.erase` (who, when, which contact id, the counts).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.audience.consent import CHANNELS, ConsentChange
from fanhub.audience.models import (
    PENDING,
    SUBSCRIBED,
    ConsentEvent,
    Contact,
    ContactGenre,
    ContactInterest,
    ContactList,
    ContactSource,
    ContactTag,
    ListOptOut,
)
from fanhub.audience.repository import ContactRepository
from fanhub.audience.service import change_consent
from fanhub.campaigns.models import Click, Delivery, DeliveryFailure, Open
from fanhub.catalog.models import Order
from fanhub.db.base import utcnow
from fanhub.deliverability.models import Bounce
from fanhub.organizations import audit
from fanhub.organizations.audit import AuditEntry
from fanhub.privacy import redact, submissions
from fanhub.privacy.export import person_addresses

ERASE = "contact.erase"
ERASURE_VIA = "erasure"

_PERSONAL_FIELDS = ("email", "phone", "first_name", "last_name", "full_name", "address", "postal_code")
_MORE_FIELDS = ("ip_address", "birthday")


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase_contact(
    session: Session, organization_id: int, contact_id: int, actor: str, now: datetime | None = None
) -> dict[str, int]:
    """Erases one contact (another organization's id raises NotFound); counts of what was erased.

    Erasing an erased contact again is harmless: it finds nothing left to erase."""
    now = now or utcnow()
    contact = ContactRepository(session).get(organization_id, contact_id)
    emails, phones = person_addresses(session, organization_id, contact_id)
    _end_subscriptions(session, organization_id, contact, actor, now)
    counts: dict[str, int] = {"contacts": 1 if contact.erased_at is None else 0}
    counts["suppressed"] = suppression.suppress_erased(session, organization_id, emails | phones, actor)
    counts.update(_erase_audience(session, contact_id))
    counts["orders"] = _count(
        session.execute(
            update(Order)
            .where(Order.organization_id == organization_id, Order.contact_id == contact_id)
            .values(customer={})
        )
    )
    counts.update(_erase_deliveries(session, organization_id, contact_id))
    counts["bounces"] = _erase_bounces(session, organization_id, emails | phones)
    counts["form_submissions"] = submissions.erase_for_contact(session, organization_id, contact_id)
    # The raw batches ingest keeps are redacted afterwards by the worker (privacy/redact.py).
    redact.queue(session, organization_id, contact_id, emails | phones)
    counts["audit_entries"] = _count(
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.organization_id == organization_id, AuditEntry.contact_id == contact_id)
            .values(details={})
        )
    )
    blank = {name: None for name in (*_PERSONAL_FIELDS, *_MORE_FIELDS)}
    session.execute(
        update(Contact)
        .where(Contact.id == contact_id)
        .values(**blank, erased_at=contact.erased_at or now, updated_at=now)
    )
    session.expire(contact)
    # The counts as one line: the contact page lists an entry's details as text.
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()) if count)
    audit.record(session, organization_id, actor, ERASE, contact_id, {"erased": summary or "nothing left"})
    return counts


def _end_subscriptions(session: Session, organization_id: int, contact: Contact, actor: str, now: datetime) -> None:
    """Ends every channel's subscription (or pending one) through the consent rules and the ledger."""
    for channel in CHANNELS:
        if getattr(contact, f"{channel}_status") not in (SUBSCRIBED, PENDING):
            continue
        change = ConsentChange(channel, False, ERASURE_VIA, actor, now, None, actor)
        change_consent(session, organization_id, contact.id, change)


def _erase_audience(session: Session, contact_id: int) -> dict[str, int]:
    """Source records, labels and interests go; the ledger keeps its entries without their values."""
    counts = {
        "source_records": _count(session.execute(delete(ContactSource).where(ContactSource.contact_id == contact_id))),
        "tags": _count(session.execute(delete(ContactTag).where(ContactTag.contact_id == contact_id))),
        "lists": _count(session.execute(delete(ContactList).where(ContactList.contact_id == contact_id))),
        "list_optouts": _count(session.execute(delete(ListOptOut).where(ListOptOut.contact_id == contact_id))),
        "genres": _count(session.execute(delete(ContactGenre).where(ContactGenre.contact_id == contact_id))),
        "interests": _count(session.execute(delete(ContactInterest).where(ContactInterest.contact_id == contact_id))),
    }
    counts["consent_events"] = _count(
        session.execute(
            update(ConsentEvent)
            .where(ConsentEvent.contact_id == contact_id)
            .values(raw_value=None, page_url=None, ip=None, user_agent=None)
        )
    )
    return counts


def _erase_deliveries(session: Session, organization_id: int, contact_id: int) -> dict[str, int]:
    """Addresses and errors of the contact's deliveries, IPs and agents of their opens and clicks."""
    delivery_ids = list(
        session.scalars(
            select(Delivery.id).where(Delivery.organization_id == organization_id, Delivery.contact_id == contact_id)
        )
    )
    counts = {"deliveries": len(delivery_ids), "opens": 0, "clicks": 0, "failures": 0}
    for start in range(0, len(delivery_ids), 500):
        chunk = delivery_ids[start : start + 500]
        session.execute(update(Delivery).where(Delivery.id.in_(chunk)).values(address="", error=None))
        counts["opens"] += _count(
            session.execute(update(Open).where(Open.delivery_id.in_(chunk)).values(ip_address=None, user_agent=None))
        )
        counts["clicks"] += _count(
            session.execute(update(Click).where(Click.delivery_id.in_(chunk)).values(ip_address=None, user_agent=None))
        )
        counts["failures"] += _count(
            session.execute(update(DeliveryFailure).where(DeliveryFailure.delivery_id.in_(chunk)).values(detail=None))
        )
    return counts


def _erase_bounces(session: Session, organization_id: int, addresses: set[str]) -> int:
    """Bounces to the person's addresses keep their kind, reason and campaign under the address's hash
    (in their replay key too: a DSN's is "msg:<digest>:<recipient>")."""
    erased = 0
    for address in sorted(addresses):
        plain, hashed = suppression.normalized(address), suppression.erased_key(organization_id, address)
        erased += _count(
            session.execute(
                update(Bounce)
                .where(Bounce.organization_id == organization_id, Bounce.address == plain)
                .values(address=hashed, diagnostic=None, replay_key=func.replace(Bounce.replay_key, plain, hashed))
            )
        )
    return erased
