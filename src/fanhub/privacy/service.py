"""Data-rights requests as the front doors make them: by contact id or by email address (every
contact of the organization known by it), for an export (`export.py`) or an erasure (`erase.py`),
and the audit log page that shows them (`fanhub audit`, the manager's audit page).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fanhub.errors import InvalidInput
from fanhub.organizations import audit
from fanhub.organizations.service import get_organization
from fanhub.privacy.erase import ERASE, erase_contact
from fanhub.privacy.export import EXPORT, export_contact, find_contacts
from fanhub.timeutil import iso_utc

# What the manager's audit page lists: data-rights requests and lifted suppressions.
PRIVACY_ACTIONS = (EXPORT, ERASE, "suppression.remove")


def requested_contacts(session: Session, organization_id: int, contact_id: int | None, email: str | None) -> list[int]:
    """The contacts a request names: the one id, or every contact known by the address."""
    get_organization(session, organization_id)
    if (contact_id is None) == (email is None):
        message = "give either a contact id or an email address"
        raise InvalidInput(message, [{"field": "contact_id", "message": message}])
    if contact_id is not None:
        return [contact_id]
    assert email is not None
    return find_contacts(session, organization_id, email)


def export_request(
    session: Session, organization_id: int, actor: str, *, contact_id: int | None = None, email: str | None = None
) -> dict[str, Any]:
    """One contact's document, or for an address {"email", "contacts": [document, ...]}; audited."""
    ids = requested_contacts(session, organization_id, contact_id, email)
    if contact_id is not None:
        return export_contact(session, organization_id, contact_id, actor)
    return {"email": email, "contacts": [export_contact(session, organization_id, cid, actor) for cid in ids]}


def erase_request(
    session: Session,
    organization_id: int,
    actor: str,
    *,
    contact_id: int | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Erases the named contacts; {"contact_ids", "erased": counts summed over them}; audited."""
    ids = requested_contacts(session, organization_id, contact_id, email)
    total: Counter[str] = Counter()
    for cid in ids:
        total.update(erase_contact(session, organization_id, cid, actor, now))
    return {"contact_ids": ids, "erased": dict(sorted(total.items()))}


def audit_page(
    session: Session, organization_id: int, *, page: int = 1, per_page: int = 50, privacy_only: bool = False
) -> dict[str, Any]:
    """{"entries": [{"actor", "action", "contact_id", "at", "details"}], "page", "has_more"}, newest first."""
    get_organization(session, organization_id)
    actions = PRIVACY_ACTIONS if privacy_only else None
    entries, has_more = audit.page(session, organization_id, page=page, per_page=per_page, actions=actions)
    rows = [
        {"actor": e.actor, "action": e.action, "contact_id": e.contact_id, "at": iso_utc(e.at), "details": e.details}
        for e in entries
    ]
    return {"entries": rows, "page": page, "has_more": has_more}
