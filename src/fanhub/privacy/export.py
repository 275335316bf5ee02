"""Access and portability (GDPR Art. 15 and 20): everything fanhub holds about one person, as one
JSON document.

The document gathers, for one contact of one organization: the contact's identities and fields,
its source records, tags, lists, genres and event interests (`audience.queries.get_contact`), the
consent ledger with its proof fields, the orders with their buyer fields and items, every campaign
delivery with its opens, clicks (with their tracking IPs and user agents), unsubscribe and
failures, the bounces and suppressions recorded for its addresses, form submissions, and the audit
entries about it. `find_contacts` resolves a request by address: every contact of the organization
with that email, also where only a source record knew it by that address.

Not exported: the copies erasure's redaction job cleans afterwards (`privacy/stores.py`): rows of
stored CSV import files, connector webhook bodies, the MCP call log and suppression removals in the
audit log. None is keyed by contact or address (a row or body names the person only inside its
text), so finding them means reading every import and webhook the organization ever kept, far too
slow for a request answered at once; what they held reached fanhub as the source records, orders
and consent entries that are exported.

Every export is itself audited (`contact.export`: who, when, which contact id). The privacy layer
sits above every domain and reads their tables directly, read-only, always by indexed keys (the
contact id, its delivery ids, the organization and address).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.addresses import try_normalize_email
from fanhub.audience import list_optouts, suppression
from fanhub.audience import queries as audience_queries
from fanhub.audience.models import Contact, ContactSource
from fanhub.audience.repository import ContactRepository
from fanhub.campaigns.models import Campaign, CampaignLink, Click, Delivery, DeliveryFailure, Open, Unsubscribe
from fanhub.catalog import queries as catalog_queries
from fanhub.catalog.models import Order
from fanhub.deliverability.models import Bounce
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations import audit
from fanhub.organizations.audit import AuditEntry
from fanhub.privacy import submissions
from fanhub.timeutil import iso_utc

EXPORT = "contact.export"


def find_contacts(session: Session, organization_id: int, email: str) -> list[int]:
    """Ids of every contact of the organization known by `email`: as its address or in a source record."""
    address = try_normalize_email(email)
    if address is None:
        raise InvalidInput(f"email: {email!r} is not an email address", [{"field": "email", "message": "not an email"}])
    ids = set(
        session.scalars(select(Contact.id).where(Contact.organization_id == organization_id, Contact.email == address))
    )
    ids.update(
        session.scalars(
            select(ContactSource.contact_id).where(
                ContactSource.organization_id == organization_id, ContactSource.email == address
            )
        )
    )
    if not ids:
        raise NotFound(f"no contact with email {address!r}")
    return sorted(ids)


def person_addresses(session: Session, organization_id: int, contact_id: int) -> tuple[set[str], set[str]]:
    """(emails, phones) the person is known by: the contact's own and its source records'."""
    contact = ContactRepository(session).get(organization_id, contact_id)
    emails = {contact.email} if contact.email else set()
    phones = {contact.phone} if contact.phone else set()
    for email, phone in session.execute(
        select(ContactSource.email, ContactSource.phone).where(ContactSource.contact_id == contact_id)
    ):
        if email:
            emails.add(email)
        if phone:
            phones.add(phone)
    return emails, phones


def export_contact(session: Session, organization_id: int, contact_id: int, actor: str) -> dict[str, Any]:
    """The document for one contact (another organization's id raises NotFound); audited."""
    contact = ContactRepository(session).get(organization_id, contact_id)
    emails, phones = person_addresses(session, organization_id, contact_id)
    document: dict[str, Any] = {
        "organization_id": organization_id,
        "contact_id": contact_id,
        "erased_at": iso_utc(contact.erased_at),
        "contact": audience_queries.get_contact(session, organization_id, contact_id),
        "consent_history": audience_queries.consent_history(session, contact_id),
        "orders": _orders(session, organization_id, contact_id),
        "deliveries": _deliveries(session, organization_id, contact_id),
        "bounces": _bounces(session, organization_id, emails | phones),
        "suppressions": _suppressions(session, organization_id, emails | phones),
        "form_submissions": submissions.for_contact(session, organization_id, contact_id),
        "list_optouts": list_optouts.for_contact(session, organization_id, contact_id),
        "audit": _audit_entries(session, organization_id, contact_id),
    }
    audit.record(session, organization_id, actor, EXPORT, contact_id, {})
    return document


def _orders(session: Session, organization_id: int, contact_id: int) -> list[dict[str, Any]]:
    """The contact's orders as the read API shows them, plus the buyer fields the source sent."""
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.organization_id == organization_id, Order.contact_id == contact_id)
            .order_by(Order.placed_at, Order.id)
        )
    )
    views = catalog_queries.order_views(session, orders)
    for view, order in zip(views, orders, strict=True):
        view["customer"] = dict(order.customer or {})
    return views


def _deliveries(session: Session, organization_id: int, contact_id: int) -> list[dict[str, Any]]:
    rows = list(
        session.execute(
            select(Delivery, Campaign.name)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Delivery.organization_id == organization_id, Delivery.contact_id == contact_id)
            .order_by(Delivery.id)
        )
    )
    ids = [d.id for d, _ in rows]
    opens, clicks, unsubscribes, failures = _tracking(session, ids)
    return [
        {
            "id": d.id,
            "campaign_id": d.campaign_id,
            "campaign": name,
            "channel": d.channel,
            "address": d.address,
            "status": d.status,
            "sent_at": iso_utc(d.sent_at),
            "opened_at": iso_utc(d.opened_at),
            "clicked_at": iso_utc(d.clicked_at),
            "unsubscribed_at": iso_utc(d.unsubscribed_at),
            "error": d.error,
            "opens": opens[d.id],
            "clicks": clicks[d.id],
            "unsubscribes": unsubscribes[d.id],
            "failures": failures[d.id],
        }
        for d, name in rows
    ]


Rows = defaultdict[int, list[dict[str, Any]]]


def _tracking(session: Session, delivery_ids: Sequence[int]) -> tuple[Rows, Rows, Rows, Rows]:
    """Opens, clicks, unsubscribes and failures of these deliveries, by delivery id, oldest first."""
    opens: Rows = defaultdict(list)
    clicks: Rows = defaultdict(list)
    unsubscribes: Rows = defaultdict(list)
    failures: Rows = defaultdict(list)
    if not delivery_ids:
        return opens, clicks, unsubscribes, failures
    ids = list(delivery_ids)
    for o in session.scalars(select(Open).where(Open.delivery_id.in_(ids)).order_by(Open.id)):
        opens[o.delivery_id].append(
            {
                "occurred_at": iso_utc(o.occurred_at),
                "machine": o.machine,
                "reason": o.reason,
                "ip_address": o.ip_address,
                "user_agent": o.user_agent,
            }
        )
    for c, url in session.execute(
        select(Click, CampaignLink.url)
        .join(CampaignLink, CampaignLink.id == Click.link_id)
        .where(Click.delivery_id.in_(ids))
        .order_by(Click.id)
    ):
        clicks[c.delivery_id].append(
            {
                "url": url,
                "occurred_at": iso_utc(c.occurred_at),
                "machine": c.machine,
                "ip_address": c.ip_address,
                "user_agent": c.user_agent,
            }
        )
    for u in session.scalars(select(Unsubscribe).where(Unsubscribe.delivery_id.in_(ids)).order_by(Unsubscribe.id)):
        unsubscribes[u.delivery_id].append(
            {"channel": u.channel, "method": u.method, "occurred_at": iso_utc(u.occurred_at)}
        )
    for f in session.scalars(
        select(DeliveryFailure).where(DeliveryFailure.delivery_id.in_(ids)).order_by(DeliveryFailure.id)
    ):
        failures[f.delivery_id].append(
            {
                "kind": f.kind,
                "code": f.code,
                "detail": f.detail,
                "permanent": f.permanent,
                "occurred_at": iso_utc(f.occurred_at),
            }
        )
    return opens, clicks, unsubscribes, failures


def _bounces(session: Session, organization_id: int, addresses: Iterable[str]) -> list[dict[str, Any]]:
    wanted = sorted(a.lower() for a in addresses)
    if not wanted:
        return []
    query = (
        select(Bounce)
        .where(Bounce.organization_id == organization_id, Bounce.address.in_(wanted))
        .order_by(Bounce.occurred_at, Bounce.id)
    )
    return [
        {
            "address": b.address,
            "kind": b.kind,
            "reason": b.reason,
            "status": b.status,
            "diagnostic": b.diagnostic,
            "source": b.source,
            "campaign_id": b.campaign_id,
            "occurred_at": iso_utc(b.occurred_at),
        }
        for b in session.scalars(query)
    ]


def _suppressions(session: Session, organization_id: int, addresses: Iterable[str]) -> list[dict[str, Any]]:
    """The list's entries for these addresses, plain or as the hash an erasure left."""
    wanted = {suppression.normalized(a) for a in addresses}
    wanted |= {suppression.erased_key(organization_id, a) for a in list(wanted)}
    if not wanted:
        return []
    query = (
        select(suppression.Suppression)
        .where(suppression.Suppression.organization_id == organization_id)
        .where(suppression.Suppression.address.in_(sorted(wanted)))
        .order_by(suppression.Suppression.id)
    )
    return [
        {"address": s.address, "reason": s.reason, "source": s.source, "created_at": iso_utc(s.created_at)}
        for s in session.scalars(query)
    ]


def _audit_entries(session: Session, organization_id: int, contact_id: int) -> list[dict[str, Any]]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.organization_id == organization_id, AuditEntry.contact_id == contact_id)
        .order_by(AuditEntry.id)
    )
    return [
        {"actor": e.actor, "action": e.action, "details": e.details, "at": iso_utc(e.at)}
        for e in session.scalars(query)
    ]
