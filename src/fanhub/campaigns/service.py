"""Campaigns: create (validated), edit, duplicate and delete drafts, preview, schedule, list.

Which action applies in which state is written once in `campaigns.lifecycle` (with pause, resume
and cancel); test sends are here; sending itself lives in `campaigns.sending` (the
worker's slices). Validation errors are `InvalidInput` naming the field (`type`,
`name`, `subject`, `body`, `event_id`, `audience.<key>`, `at`, `status`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.addresses import normalize_email
from fanhub.audience import suppression
from fanhub.audience.models import UNSUBSCRIBED, Contact
from fanhub.audience.segments import count_audience, segment_query, validate_segment
from fanhub.campaigns import lifecycle
from fanhub.campaigns.merge import renderer_for
from fanhub.campaigns.models import (
    DRAFT,
    EMAIL,
    SCHEDULED,
    SMS,
    Campaign,
    CampaignStats,
)
from fanhub.campaigns.render import Recipient
from fanhub.campaigns.repository import CampaignRepository
from fanhub.campaigns.schemas import CampaignChanges, CampaignView, TestSendResult
from fanhub.catalog.repository import EventRepository
from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations.sending_domains import dkim_signer_for
from fanhub.organizations.service import get_organization, sender_address
from fanhub.pagination import Page, PageRequest
from fanhub.timeutil import iso_utc


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", [{"index": None, "field": field, "message": message}])


_SAMPLE = Recipient(
    delivery_id=0, address="fan@example.com", first_name="Alex", last_name="Fan", email="fan@example.com"
)


def _validated(
    session: Session,
    organization_id: int,
    *,
    type: str,
    name: str | None,
    body: str | None,
    subject: str | None,
    audience: Any,
    event_id: int | None,
) -> dict[str, Any]:
    """A campaign's content checked (each problem an `InvalidInput` naming its field), ready to store."""
    if type not in (EMAIL, SMS):
        raise _invalid("type", "must be email or sms")
    name = (name or "").strip()
    if not name or len(name) > 300:
        raise _invalid("name", "must be 1 to 300 characters")
    if not body or not body.strip():
        raise _invalid("body", "must not be empty")
    if type == EMAIL:
        subject = (subject or "").strip()
        if not subject:
            raise _invalid("subject", "an email campaign needs a subject")
        if len(subject) > 998:
            raise _invalid("subject", "must be at most 998 characters")
    else:
        subject = None
    segment = validate_segment(audience)
    if event_id is not None and not EventRepository(session).owned_ids(organization_id, [event_id]):
        raise _invalid("event_id", f"event {event_id} not found in this organization")
    return {"type": type, "name": name, "subject": subject, "body": body, "audience": segment, "event_id": event_id}


def _check_renders(session: Session, campaign: Campaign) -> None:
    """Render once with a sample recipient: template syntax and unknown merge fields fail here."""
    renderer = renderer_for(session, campaign)
    if campaign.type == EMAIL:
        renderer.render_email(_SAMPLE)
    else:
        renderer.render_sms(_SAMPLE)


def create_campaign(
    session: Session,
    organization_id: int,
    *,
    type: str,
    name: str,
    body: str,
    subject: str | None = None,
    audience: dict[str, Any] | None = None,
    event_id: int | None = None,
    created_by: str | None = None,
) -> Campaign:
    """Validate and store a draft campaign (and its counters row)."""
    get_organization(session, organization_id)
    fields = _validated(
        session,
        organization_id,
        type=type,
        name=name,
        body=body,
        subject=subject,
        audience=audience,
        event_id=event_id,
    )
    campaign = Campaign(organization_id=organization_id, status=DRAFT, created_by=created_by, **fields)
    _check_renders(session, campaign)
    session.add(campaign)
    session.flush()
    session.add(CampaignStats(campaign_id=campaign.id, organization_id=organization_id))
    session.flush()
    return campaign


def edit_campaign(session: Session, organization_id: int, campaign_id: int, changes: CampaignChanges) -> Campaign:
    """Change a draft's name, subject, body, audience or event (only the fields set in `changes`),
    with the same checks as `create_campaign`."""
    campaign = lifecycle.locked(session, organization_id, campaign_id)
    lifecycle.require(campaign, "edit")
    given = changes.model_fields_set
    current = {
        "name": campaign.name,
        "subject": campaign.subject,
        "body": campaign.body,
        "audience": campaign.audience,
        "event_id": campaign.event_id,
    }
    merged: dict[str, Any] = {key: getattr(changes, key) if key in given else value for key, value in current.items()}
    fields = _validated(session, organization_id, type=campaign.type, **merged)
    for key, value in fields.items():
        setattr(campaign, key, value)
    _check_renders(session, campaign)
    session.flush()
    return campaign


def duplicate_campaign(
    session: Session, organization_id: int, campaign_id: int, created_by: str | None = None
) -> Campaign:
    """A new draft with the campaign's content (any state), named "Copy of ..."."""
    original = get_campaign(session, organization_id, campaign_id)
    copy = Campaign(
        organization_id=organization_id,
        type=original.type,
        name=f"Copy of {original.name}"[:300],
        subject=original.subject,
        body=original.body,
        audience=dict(original.audience or {}),
        event_id=original.event_id,
        status=DRAFT,
        created_by=created_by,
    )
    session.add(copy)
    session.flush()
    session.add(CampaignStats(campaign_id=copy.id, organization_id=organization_id))
    session.flush()
    return copy


def delete_campaign(session: Session, organization_id: int, campaign_id: int) -> None:
    """Delete a draft (nothing was sent from it, so no delivery, tracking or attribution refers to it)."""
    campaign = lifecycle.locked(session, organization_id, campaign_id)
    lifecycle.require(campaign, "delete")
    stats = session.get(CampaignStats, campaign_id)
    if stats is not None:
        session.delete(stats)
        session.flush()
    session.delete(campaign)
    session.flush()


def get_campaign(session: Session, organization_id: int, campaign_id: int) -> Campaign:
    return CampaignRepository(session).get(organization_id, campaign_id)


def get_campaign_any(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def preview_campaign(
    session: Session, organization_id: int, campaign_id: int, contact_id: int | None = None
) -> dict[str, Any]:
    """Recipient count for the campaign's channel, counts for both, and one rendered message."""
    campaign = get_campaign(session, organization_id, campaign_id)
    counts = count_audience(session, organization_id, campaign.audience)
    if contact_id is None:
        first: int | None = session.scalar(
            segment_query(organization_id, campaign.audience, campaign.type).order_by(Contact.id).limit(1)
        )
        contact_id = first
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    if contact is not None and contact.organization_id != organization_id:
        raise NotFound(f"contact {contact_id} not found")
    recipient = (
        Recipient(
            delivery_id=0,
            address=(contact.email if campaign.type == EMAIL else contact.phone) or "",
            first_name=contact.first_name,
            last_name=contact.last_name,
            full_name=contact.full_name,
            email=contact.email,
            phone=contact.phone,
            contact_id=contact.id,
        )
        if contact is not None
        else _SAMPLE
    )
    renderer = renderer_for(session, campaign)
    sample: dict[str, Any] = {"to": recipient.address, "contact_id": contact.id if contact else None}
    if campaign.type == EMAIL:
        rendered = renderer.render_email(recipient)
        sample |= {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}
    else:
        sample |= {"body": renderer.render_sms(recipient)}
    return {
        "campaign_id": campaign.id,
        "type": campaign.type,
        "status": campaign.status,
        "recipients": counts[campaign.type],
        "audience": counts,
        "sample": sample,
    }


def schedule_campaign(session: Session, organization_id: int, campaign_id: int, at: datetime | None = None) -> Campaign:
    """Queue a draft for sending at `at` (now when omitted); the worker starts it when due."""
    campaign = lifecycle.locked(session, organization_id, campaign_id)
    lifecycle.require(campaign, "schedule")
    if at is not None and at.tzinfo is None:
        raise _invalid("at", "must carry a UTC offset")
    campaign.status = SCHEDULED
    campaign.scheduled_at = at or utcnow()
    session.flush()
    return campaign


def parse_send_time(value: str, time_zone: str | None) -> datetime:
    """A send time typed by staff: RFC 3339 with an offset, or a local `YYYY-MM-DDTHH:MM` read in the
    organization's time zone. Returned in UTC."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace(" ", "T", 1))
    except ValueError:
        raise _invalid("at", f"{text!r} is not a date and time such as 2031-05-01T19:30") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(time_zone or "UTC"))
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise _invalid("at", "is out of range") from None


def organization_zone(session: Session, organization_id: int) -> str:
    return get_organization(session, organization_id).time_zone or "UTC"


def campaign_summary(campaign: Campaign, stats: CampaignStats | None) -> CampaignView:
    return CampaignView(
        id=campaign.id,
        type=campaign.type,
        name=campaign.name,
        subject=campaign.subject,
        status=campaign.status,
        event_id=campaign.event_id,
        audience=campaign.audience or {},
        scheduled_at=iso_utc(campaign.scheduled_at),
        delivered_at=iso_utc(campaign.delivered_at),
        paused_at=iso_utc(campaign.paused_at),
        cancelled_at=iso_utc(campaign.cancelled_at),
        finished_at=iso_utc(stats.finished_at) if stats else None,
        recipients=stats.recipients if stats else 0,
        delivered=stats.delivered if stats else 0,
        undelivered=stats.undelivered if stats else 0,
        created_at=iso_utc(campaign.created_at),
        actions=lifecycle.allowed_actions(campaign.status),
    )


def campaign_view(session: Session, organization_id: int, campaign_id: int) -> CampaignView:
    campaign = get_campaign(session, organization_id, campaign_id)
    return campaign_summary(campaign, session.get(CampaignStats, campaign_id))


def list_campaigns(session: Session, organization_id: int) -> list[CampaignView]:
    get_organization(session, organization_id)
    rows = session.execute(
        select(Campaign, CampaignStats)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        # A flow's step campaigns (flows/messages.py) are shown with their flow, not here.
        .where(Campaign.organization_id == organization_id, Campaign.flow_id.is_(None))
        .order_by(Campaign.id.desc())
    )
    return [campaign_summary(c, s) for c, s in rows]


def page_campaigns(
    session: Session,
    organization_id: int,
    request: PageRequest,
    *,
    type: str | None = None,
    status: str | None = None,
) -> Page[Campaign]:
    """One page of the organization's campaigns, newest first, optionally of one type and status."""
    repository = CampaignRepository(session)
    query = repository.readable(organization_id).where(Campaign.flow_id.is_(None))  # not flows' step campaigns
    if type is not None:
        query = query.where(Campaign.type == type)
    if status is not None:
        query = query.where(Campaign.status == status)
    page: Page[Campaign] = repository.paginate(query.order_by(Campaign.id.desc()), request)
    return page


# --- test sends ----------------------------------------------------------------------------------

MAX_TEST_ADDRESSES = 20


def test_addresses(raw: str | Sequence[str]) -> list[str]:
    """Comma-separated (or listed) addresses, normalised; a bad one is an `InvalidInput` on `to`."""
    parts = raw.replace(";", ",").split(",") if isinstance(raw, str) else list(raw)
    addresses: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            address = normalize_email(part)
        except ValueError as exc:
            raise _invalid("to", f"{part[:100]!r} {exc}") from None
        if address not in addresses:
            addresses.append(address)
    if len(addresses) > MAX_TEST_ADDRESSES:
        raise _invalid("to", f"at most {MAX_TEST_ADDRESSES} addresses")
    return addresses


def _test_contact(session: Session, organization_id: int, chosen: str) -> Contact:
    """The contact whose merge fields a test shows, by id or email."""
    contact: Contact | None = None
    if chosen.isdigit() and len(chosen) < 19:
        contact = session.get(Contact, int(chosen))
    else:
        try:
            email = normalize_email(chosen)
        except ValueError:
            email = None
        if email is not None:
            contact = session.scalar(
                select(Contact).where(Contact.organization_id == organization_id, Contact.email == email)
            )
    if contact is None or contact.organization_id != organization_id:
        raise _invalid("contact", f"no contact {chosen[:100]!r} in this organization")
    return contact


def _refuse_unsubscribed(session: Session, organization_id: int, addresses: list[str]) -> None:
    """Consent holds for tests too: no message to an address whose contact unsubscribed."""
    refused = session.scalars(
        select(Contact.email).where(
            Contact.organization_id == organization_id,
            Contact.email.in_(addresses),
            Contact.email_status == UNSUBSCRIBED,
        )
    ).all()
    if refused:
        raise _invalid("to", f"{', '.join(sorted(str(a) for a in refused))} unsubscribed; a test cannot go there")


def send_test(
    database: Database,
    organization_id: int,
    campaign_id: int,
    *,
    to: str | Sequence[str],
    contact: str | None = None,
    settings: Settings | None = None,
) -> TestSendResult:
    """Send an email campaign, marked [TEST], to each of `to`, rendered with `contact`'s merge fields
    (an id or an email of this organization), else as "Test". Transport errors propagate."""
    from fanhub.campaigns.sending import Message, build_email, email_transport

    settings = settings or get_settings()
    addresses = test_addresses(to)
    if not addresses:
        raise _invalid("to", "give at least one address")
    with database.read() as session:
        campaign = get_campaign(session, organization_id, campaign_id)
        lifecycle.require(campaign, "send_test")
        if campaign.type != EMAIL:
            raise _invalid("type", "test sends are for email campaigns; preview SMS text on the campaign's page")
        _refuse_unsubscribed(session, organization_id, addresses)
        suppressed = sorted(suppression.suppressed_among(session, organization_id, addresses))
        addresses = [a for a in addresses if a.lower() not in suppressed]
        if not addresses:
            raise _invalid("to", f"{', '.join(suppressed)} on the suppression list; a test cannot go there")
        person = _test_contact(session, organization_id, contact.strip()) if contact and contact.strip() else None
        renderer = renderer_for(session, campaign)
        sender = sender_address(get_organization(session, organization_id), settings)
        sign = dkim_signer_for(session, organization_id, parseaddr(sender)[1].rpartition("@")[2])
    messages = []
    for address in addresses:
        recipient = (
            Recipient(
                delivery_id=0,
                address=address,
                first_name=person.first_name,
                last_name=person.last_name,
                full_name=person.full_name,
                email=person.email,
                phone=person.phone,
                # No contact_id: a test goes to a staff address, which must not get the person's
                # own preference link.
            )
            if person is not None
            else Recipient(delivery_id=0, address=address, email=address, first_name="Test")
        )
        rendered = renderer.render_email(recipient)
        rendered.subject = "[TEST] " + rendered.subject
        body = build_email(
            mail_from=sender,
            to_name=None,
            to_address=address,
            rendered=rendered,
            message_id=f"<test-{secrets.token_hex(8)}@fanhub.local>",
            campaign_id=campaign_id,
        )
        if sign is not None:
            body = sign(body)
        messages.append(Message(campaign_id, 0, address, sender=parseaddr(sender)[1], body=body))
    transport = email_transport(settings)
    try:
        for message in messages:
            transport.push(message)
    finally:
        transport.close()
    if person is None:
        return TestSendResult(
            campaign_id=campaign_id, to=addresses, rendered_for="Test", contact_id=None, suppressed=suppressed
        )
    name = person.full_name or " ".join(filter(None, (person.first_name, person.last_name))) or person.email
    return TestSendResult(
        campaign_id=campaign_id,
        to=addresses,
        rendered_for=name or f"#{person.id}",
        contact_id=person.id,
        suppressed=suppressed,
    )
