"""Creating, finding and configuring organizations."""

from __future__ import annotations

import re
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


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
OVER_CAP = ("defer", "drop")


def update_automation_settings(
    session: Session,
    organization_id: int,
    *,
    max_messages_per_day: int | None = None,
    quiet_hours: str | None = None,
    time_zone: str | None = None,
    over_cap: str | None = None,
) -> Organization:
    """Change the settings automations read (only those given): the frequency cap (marketing
    messages per contact per local day, 0 = no cap), SMS quiet hours "HH:MM-HH:MM" (equal ends =
    none), the time zone both are read in, and what a flow step over the cap does (defer | drop).
    Every problem is reported at once, naming its field."""
    errors: list[dict[str, object]] = []

    def problem(field: str, message: str) -> None:
        errors.append({"index": None, "field": field, "message": message})

    if max_messages_per_day is not None and not 0 <= max_messages_per_day <= 100:
        problem("max_messages_per_day", "A whole number from 0 (no cap) to 100.")
    window: tuple[str, str] | None = None
    if quiet_hours is not None:
        start, _, end = quiet_hours.strip().partition("-")
        if not (_CLOCK.match(start.strip()) and _CLOCK.match(end.strip())):
            problem("quiet_hours", "Give two 24-hour times such as 21:00-08:00.")
        else:
            window = (start.strip(), end.strip())
    if time_zone is not None and time_zone not in available_timezones():
        problem("time_zone", "Choose a time zone from the list (e.g. Europe/Paris).")
    if over_cap is not None and over_cap not in OVER_CAP:
        problem("over_cap", "Use defer or drop.")
    if errors:
        raise InvalidInput(f"{errors[0]['field']}: {errors[0]['message']}", errors)
    organization = get_organization(session, organization_id)
    if max_messages_per_day is not None:
        organization.max_messages_per_day = max_messages_per_day
    if window is not None:
        organization.quiet_hours_start, organization.quiet_hours_end = window
    if time_zone is not None:
        organization.time_zone = time_zone
    if over_cap is not None:
        organization.over_cap = over_cap
    session.flush()
    return organization


def automation_settings(organization: Organization) -> dict[str, object]:
    """The automation settings as every interface shows them."""
    return {
        "id": organization.id,
        "time_zone": organization.time_zone,
        "quiet_hours": f"{organization.quiet_hours_start}-{organization.quiet_hours_end}",
        "max_messages_per_day": organization.max_messages_per_day,
        "over_cap": organization.over_cap,
    }


SUNSET_MAX_EMAILS = 1000
SUNSET_DAYS = (7, 730)


def update_sunset_settings(
    session: Session,
    organization_id: int,
    *,
    enabled: bool | None = None,
    after_emails: int | None = None,
    min_days: int | None = None,
) -> Organization:
    """Change the sunset setting (only what is given; deliverability/sunset.py applies it): on or
    off, how many emails without engagement, over at least how many days. Every problem is reported
    at once, naming its field."""
    errors: list[dict[str, object]] = []
    if after_emails is not None and not 1 <= after_emails <= SUNSET_MAX_EMAILS:
        message = f"A whole number from 1 to {SUNSET_MAX_EMAILS}."
        errors.append({"index": None, "field": "sunset_after_emails", "message": message})
    low, high = SUNSET_DAYS
    if min_days is not None and not low <= min_days <= high:
        message = f"A whole number of days from {low} to {high}."
        errors.append({"index": None, "field": "sunset_min_days", "message": message})
    if errors:
        raise InvalidInput(f"{errors[0]['field']}: {errors[0]['message']}", errors)
    organization = get_organization(session, organization_id)
    if enabled is not None:
        organization.sunset_enabled = enabled
    if after_emails is not None:
        organization.sunset_after_emails = after_emails
    if min_days is not None:
        organization.sunset_min_days = min_days
    session.flush()
    return organization


def sunset_settings(organization: Organization) -> dict[str, object]:
    """The sunset setting as every interface shows it."""
    return {
        "sunset_enabled": organization.sunset_enabled,
        "sunset_after_emails": organization.sunset_after_emails,
        "sunset_min_days": organization.sunset_min_days,
    }


def sender_address(organization: Organization, settings: Settings) -> str:
    """The From header of the organization's emails: its sender when set, else FANHUB_MAIL_FROM."""
    if not organization.sender_email:
        return settings.mail_from
    return formataddr((organization.sender_name or organization.name, organization.sender_email))
