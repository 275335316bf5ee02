"""Repairing what CSV imports did to SMS before SMS had its own mode.

Until migration 0008 an import applied its one mode to both channels, so "subscribe only if not
opted out" subscribed every phone number in the file to texts. Those imports are the ones with
`sms_mode` NULL. `review` lists each SMS change such an import made, with what repairing it would do:

- `revert`: the import subscribed the contact and nothing about their SMS has happened since; the
  revert puts back the state before the import ("unknown", or "unsubscribed" where a "subscribe
  everyone" import had overridden an opt-out).
- `keep`: an unsubscribe (never undone), or the contact's SMS changed since (a STOP, staff, another
  source), or they ticked an SMS opt-in on an order placed after the import: their later word stands.
- `reverted`: already put back.

`revert` applies every `revert` item through `audience.consent` (via `import.revert`, which may only
move a current subscription, so it cannot undo an unsubscribe) and marks the imports reviewed, as
does `keep_all` (an admin's "leave as is"). The dashboard asks admins while `needs_review` holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.audience.consent import IMPORT_REVERT, SMS, ConsentChange
from fanhub.audience.models import SUBSCRIBED, UNKNOWN, UNSUBSCRIBED, ConsentEvent, Contact
from fanhub.audience.service import change_consent
from fanhub.catalog.models import Order
from fanhub.db.base import utcnow
from fanhub.db.bulk import values_in
from fanhub.imports.models import DRAFT, UPLOADING, ContactImport

REVERT, KEEP, REVERTED = "revert", "keep", "reverted"


@dataclass(frozen=True)
class ReviewItem:
    contact_id: int
    email: str | None
    phone: str | None
    name: str | None
    import_id: str
    filename: str
    imported_at: datetime
    via: str
    set_to: str
    current: str
    action: str
    reason: str
    restore_to: str | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["imported_at"] = self.imported_at.isoformat().replace("+00:00", "Z")
        return data


def legacy_imports(session: Session, organization_id: int, since: datetime | None = None) -> list[ContactImport]:
    """Imports made before SMS had its own mode (started ones only), oldest first."""
    query = select(ContactImport).where(
        ContactImport.organization_id == organization_id,
        ContactImport.sms_mode.is_(None),
        ContactImport.status.not_in((DRAFT, UPLOADING)),
    )
    if since is not None:
        query = query.where(ContactImport.queued_at >= since)
    return list(session.scalars(query.order_by(ContactImport.id)))


def review(session: Session, organization_id: int, since: datetime | None = None) -> list[ReviewItem]:
    """Every SMS change a legacy import made, with what a revert would do to it."""
    by_source = {f"import:{item.public_id}": item for item in legacy_imports(session, organization_id, since)}
    if not by_source:
        return []
    entries = list(
        session.scalars(
            select(ConsentEvent)
            .where(
                ConsentEvent.organization_id == organization_id,
                ConsentEvent.channel == SMS,
                values_in(ConsentEvent.source, list(by_source)),
            )
            .order_by(ConsentEvent.id)
        )
    )
    contact_ids = sorted({entry.contact_id for entry in entries})
    history = _sms_history(session, contact_ids)
    contacts = {c.id: c for c in session.scalars(select(Contact).where(values_in(Contact.id, contact_ids)))}
    opted_in_later = _sms_opt_in_orders(session, organization_id, contact_ids)
    items = []
    for entry in entries:
        action, reason, restore_to = _decide(entry, history[entry.contact_id], opted_in_later.get(entry.contact_id))
        contact = contacts[entry.contact_id]
        item = by_source[entry.source]
        items.append(
            ReviewItem(
                contact_id=contact.id,
                email=contact.email,
                phone=contact.phone,
                name=contact.full_name or " ".join(filter(None, (contact.first_name, contact.last_name))) or None,
                import_id=item.public_id,
                filename=item.filename,
                imported_at=entry.occurred_at,
                via=entry.via,
                set_to=entry.status,
                current=contact.sms_status,
                action=action,
                reason=reason,
                restore_to=restore_to,
            )
        )
    return items


def _sms_history(session: Session, contact_ids: Sequence[int]) -> dict[int, list[ConsentEvent]]:
    history: dict[int, list[ConsentEvent]] = {contact_id: [] for contact_id in contact_ids}
    if contact_ids:
        query = (
            select(ConsentEvent)
            .where(values_in(ConsentEvent.contact_id, list(contact_ids)), ConsentEvent.channel == SMS)
            .order_by(ConsentEvent.id)
        )
        for entry in session.scalars(query):
            history[entry.contact_id].append(entry)
    return history


def _sms_opt_in_orders(session: Session, organization_id: int, contact_ids: Sequence[int]) -> dict[int, datetime]:
    """Each contact's latest order with the SMS opt-in ticked (a confirmation that may not be in the ledger,
    since a subscribe over a subscription changes nothing)."""
    if not contact_ids:
        return {}
    query = select(Order.contact_id, Order.placed_at).where(
        Order.organization_id == organization_id,
        values_in(Order.contact_id, list(contact_ids)),
        Order.sms_opt_in.is_(True),
    )
    latest: dict[int, datetime] = {}
    for contact_id, placed_at in session.execute(query):
        if contact_id not in latest or placed_at > latest[contact_id]:
            latest[contact_id] = placed_at
    return latest


def _decide(
    entry: ConsentEvent, history: list[ConsentEvent], sms_opt_in_at: datetime | None
) -> tuple[str, str, str | None]:
    if entry.status != SUBSCRIBED:
        return KEEP, "an unsubscribe is never reverted", None
    later = [e for e in history if e.id > entry.id]
    if later:
        last = later[-1]
        if last.via == IMPORT_REVERT and len(later) == 1:
            return REVERTED, "put back to its state before the import", None
        return KEEP, f"SMS changed since ({last.status} via {last.via})", None
    if sms_opt_in_at is not None and sms_opt_in_at > entry.occurred_at:
        return KEEP, "opted in to SMS on an order placed after the import", None
    earlier = [e for e in history if e.id < entry.id]
    restore_to = earlier[-1].status if earlier else UNKNOWN
    return REVERT, f"set by the import; nothing since (back to {restore_to})", restore_to


def revert(session: Session, organization_id: int, actor: str, since: datetime | None = None) -> dict[str, int]:
    """Put back every `revert` item through the consent rules; mark the imports reviewed. Counts by action."""
    items = review(session, organization_id, since)
    now = utcnow()
    counts = {REVERTED: 0, KEEP: 0, "already_reverted": 0}
    for item in items:
        if item.action == REVERT:
            subscribed = False if item.restore_to == UNSUBSCRIBED else None
            change = ConsentChange(SMS, subscribed, IMPORT_REVERT, actor, now, f"import:{item.import_id}", actor)
            counts[REVERTED] += int(change_consent(session, organization_id, item.contact_id, change))
        elif item.action == KEEP:
            counts[KEEP] += 1
        else:
            counts["already_reverted"] += 1
    _mark_reviewed(session, organization_id, since)
    return counts


def keep_all(session: Session, organization_id: int) -> int:
    """An admin's "leave as is": the legacy imports count as reviewed. The number of imports marked."""
    return _mark_reviewed(session, organization_id, None)


def _mark_reviewed(session: Session, organization_id: int, since: datetime | None) -> int:
    marked = 0
    for item in legacy_imports(session, organization_id, since):
        if item.sms_reviewed_at is None:
            item.sms_reviewed_at = utcnow()
            marked += 1
    return marked


def needs_review(session: Session, organization_id: int) -> bool:
    """Whether an unreviewed legacy import subscribed someone to SMS (the dashboard asks admins then)."""
    sources = [
        f"import:{item.public_id}" for item in legacy_imports(session, organization_id) if item.sms_reviewed_at is None
    ]
    if not sources:
        return False
    query = select(ConsentEvent.id).where(
        ConsentEvent.organization_id == organization_id,
        ConsentEvent.channel == SMS,
        ConsentEvent.status == SUBSCRIBED,
        values_in(ConsentEvent.source, sources),
    )
    return session.scalar(query.limit(1)) is not None
