"""Creating, finding and configuring organizations."""

from __future__ import annotations

from email.utils import formataddr
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.config import Settings
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations.models import Organization


def create_organization(session: Session, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise ValueError("organization name must not be empty")
    organization = Organization(name=name)
    session.add(organization)
    session.flush()
    return organization


def get_organization(session: Session, organization_id: int) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(f"organization {organization_id} not found")
    return organization


def list_organizations(session: Session) -> list[Organization]:
    """Every organization of the deployment, oldest first (operators only: the CLI)."""
    return list(session.scalars(select(Organization).order_by(Organization.id)))


def count_organizations(session: Session) -> int:
    return len(session.scalars(select(Organization.id).limit(1)).all())


def update_organization(
    session: Session,
    organization_id: int,
    *,
    name: str,
    time_zone: str,
    phone_region: str | None,
    email_attribution_days: int,
    sms_attribution_days: int,
    sender_name: str | None,
    sender_email: str | None,
) -> Organization:
    """Change an organization's settings; every problem is reported at once, naming its field."""
    from fanhub.addresses import try_normalize_email

    errors: list[dict[str, object]] = []

    def problem(field: str, message: str) -> None:
        errors.append({"index": None, "field": field, "message": message})

    name = name.strip()
    if not 1 <= len(name) <= 200:
        problem("name", "Give a name of 1 to 200 characters.")
    try:
        ZoneInfo(time_zone)
        valid_zone = time_zone in available_timezones()
    except Exception:
        valid_zone = False
    if not valid_zone:
        problem("time_zone", "Choose a time zone from the list (e.g. America/Denver).")
    region = (phone_region or "").strip().upper() or None
    if region and region not in phonenumbers.SUPPORTED_REGIONS:
        problem("phone_region", "Use a two-letter country code such as US or GB.")
    for field, days in (("email_days", email_attribution_days), ("sms_days", sms_attribution_days)):
        if not 1 <= days <= 90:
            problem(field, "A whole number of days from 1 to 90.")
    sender_name = (sender_name or "").strip() or None
    if sender_name and (len(sender_name) > 200 or any(ch in sender_name for ch in "\r\n")):
        problem("sender_name", "Give a name of at most 200 characters on one line.")
    address = (sender_email or "").strip() or None
    if address is not None:
        address = try_normalize_email(address)
        if address is None:
            problem("sender_email", "Give a valid email address, e.g. news@venue.example.")
    if errors:
        raise InvalidInput(f"{len(errors)} invalid setting(s)", errors)
    organization = get_organization(session, organization_id)
    organization.name = name
    organization.time_zone = time_zone
    organization.phone_region = region
    organization.email_attribution_days = email_attribution_days
    organization.sms_attribution_days = sms_attribution_days
    organization.sender_name = sender_name
    organization.sender_email = address
    return organization


def sender_address(organization: Organization, settings: Settings) -> str:
    """The From header of the organization's emails: its sender when set, else FANHUB_MAIL_FROM."""
    if not organization.sender_email:
        return settings.mail_from
    return formataddr((organization.sender_name or organization.name, organization.sender_email))
