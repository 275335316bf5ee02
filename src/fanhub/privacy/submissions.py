"""A person's signup-form submissions (`forms.models.FormSubmission`) for the data-rights export and
erasure: read by contact id (indexed), and erased by deleting them (the consent ledger keeps the
anonymous proof: form id and the wording shown, without the person's IP, agent or page).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fanhub.forms.models import Form, FormSubmission
from fanhub.timeutil import iso_utc


def for_contact(session: Session, organization_id: int, contact_id: int) -> list[dict[str, Any]]:
    """Every submission that joined this contact, oldest first, with what was entered and shown."""
    query = (
        select(FormSubmission, Form.name)
        .join(Form, Form.id == FormSubmission.form_id)
        .where(FormSubmission.organization_id == organization_id, FormSubmission.contact_id == contact_id)
        .order_by(FormSubmission.id)
    )
    return [
        {
            "form_id": s.form_id,
            "form": name,
            "email": s.email,
            "phone": s.phone,
            "first_name": s.first_name,
            "last_name": s.last_name,
            "birthday": s.birthday,
            "sms_opt_in": s.sms_opt_in,
            "consent_text": s.consent_text,
            "sms_consent_text": s.sms_consent_text,
            "page_url": s.page_url,
            "ip": s.ip,
            "user_agent": s.user_agent,
            "double_opt_in": s.double_opt_in,
            "status": s.status,
            "confirmed_at": iso_utc(s.confirmed_at),
            "confirm_ip": s.confirm_ip,
            "confirm_user_agent": s.confirm_user_agent,
            "sms_confirmed_at": iso_utc(s.sms_confirmed_at),
            "created_at": iso_utc(s.created_at),
        }
        for s, name in session.execute(query)
    ]


def erase_for_contact(session: Session, organization_id: int, contact_id: int) -> int:
    """Deletes the contact's submissions; how many."""
    result = session.execute(
        delete(FormSubmission).where(
            FormSubmission.organization_id == organization_id, FormSubmission.contact_id == contact_id
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
