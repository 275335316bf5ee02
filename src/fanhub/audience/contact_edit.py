"""Staff corrections of a contact: name, email, phone, birthday, postal code, and removing a tag or list.

The rules, in one place:
- Email and phone go through the same normalisation as every source (`addresses.py`), so an
  edited address is found again exactly as an imported one would be.
- An edit never creates a duplicate: an email or phone another contact of the organization holds
  is refused, naming that contact (merging two people is not an edit).
- A contact keeps an email or a phone: clearing the last one is refused.
- Consent stays with the person: correcting a typo in an address does not change a subscription
  (consent changes only through `audience/consent.py`).
- Every change is written to the organization's audit log with who made it and the old and new
  values (`organizations/audit.py`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.addresses import normalize_email, normalize_phone
from fanhub.audience.labels import LIST, TAG, change_labels
from fanhub.audience.models import Contact
from fanhub.audience.repository import ContactRepository
from fanhub.auth.actor import WRITE, Actor
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations import audit
from fanhub.organizations.service import get_organization

EDITABLE_FIELDS = ("first_name", "last_name", "email", "phone", "birthday", "postal_code")
_MAX_LENGTH = {"first_name": 100, "last_name": 100, "postal_code": 20}


def _clean(session: Session, actor: Actor, field: str, raw: str) -> str | None:
    """The value to store for a field, or ValueError with the reason."""
    value = raw.strip() or None
    if value is None:
        return None
    if field == "email":
        return normalize_email(value)
    if field == "phone":
        return normalize_phone(value, get_organization(session, actor.organization_id).phone_region)
    if field == "birthday":
        try:
            born = date.fromisoformat(value)
        except ValueError:
            raise ValueError("use YYYY-MM-DD") from None
        if len(value) != 10 or born >= date.today():
            raise ValueError("use YYYY-MM-DD, a day in the past")
        return value
    if len(value) > _MAX_LENGTH[field]:
        raise ValueError(f"at most {_MAX_LENGTH[field]} characters")
    return value


def _holder(session: Session, organization_id: int, field: str, value: str, contact_id: int) -> int | None:
    """Another contact of the organization holding this email or phone, if any."""
    column = Contact.email if field == "email" else Contact.phone
    query = select(Contact.id).where(
        Contact.organization_id == organization_id, column == value, Contact.id != contact_id
    )
    return session.scalars(query).first()


def edit_contact(session: Session, actor: Actor, contact_id: int, fields: dict[str, str]) -> dict[str, list[Any]]:
    """Apply the fields that changed; returns {field: [old, new]}. InvalidInput names each bad field."""
    if not actor.can(WRITE):  # as for labels: without write access the contact is not there to edit
        raise NotFound(f"contact {contact_id} not found")
    contact = ContactRepository(session).get(actor.organization_id, contact_id)
    errors: list[dict[str, Any]] = []
    changes: dict[str, list[Any]] = {}
    for field, raw in fields.items():
        if field not in EDITABLE_FIELDS:
            errors.append({"index": None, "field": field, "message": "not an editable field"})
            continue
        try:
            value = _clean(session, actor, field, raw)
        except ValueError as exc:
            errors.append({"index": None, "field": field, "message": str(exc)})
            continue
        if value == getattr(contact, field):
            continue
        if field in ("email", "phone") and value is not None:
            other = _holder(session, actor.organization_id, field, value, contact.id)
            if other is not None:
                message = f"contact {other} already has this {field}; an edit cannot make a duplicate"
                errors.append({"index": None, "field": field, "message": message})
                continue
        changes[field] = [getattr(contact, field), value]
    email = changes.get("email", [None, contact.email])[1]
    phone = changes.get("phone", [None, contact.phone])[1]
    if not errors and email is None and phone is None:
        errors.append({"index": None, "field": "email", "message": "a contact needs an email or a phone"})
    if errors:
        raise InvalidInput(f"contact {contact_id} was not changed", errors)
    for field, (_, new) in changes.items():
        setattr(contact, field, new)
    if changes:
        audit.record(session, actor.organization_id, actor.audit, "contact.edit", contact.id, changes)
    return changes


def remove_label(session: Session, actor: Actor, contact_id: int, kind: str, label_id: int) -> str:
    """Take one tag or list off one contact (audited); returns the tag or list name."""
    ContactRepository(session).get(actor.organization_id, contact_id)
    change = change_labels(session, actor, kind, label_id, [contact_id], add=False)
    action = {TAG: "contact.untag", LIST: "contact.unlist"}[kind]
    audit.record(session, actor.organization_id, actor.audit, action, contact_id, {kind: change.name})
    return change.name
