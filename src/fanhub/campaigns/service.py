"""Campaign lifecycle: create (validated), preview, schedule, list.

Sending itself lives in `campaigns.sending` (the worker's slices); this module only moves a
campaign from draft to scheduled. Validation errors are `InvalidInput` naming the field
(`type`, `name`, `subject`, `body`, `event_id`, `audience.<key>`, `at`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.audience.models import Contact
from fanhub.audience.segments import count_audience, segment_query, validate_segment
from fanhub.campaigns.models import (
    DRAFT,
    EMAIL,
    SCHEDULED,
    SMS,
    Campaign,
    CampaignStats,
)
from fanhub.campaigns.render import CampaignRenderer, Recipient, format_event_date
from fanhub.catalog.models import Event
from fanhub.config import get_settings
from fanhub.db.base import utcnow
from fanhub.db.repository import Repository
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations.models import Organization
from fanhub.organizations.service import get_organization
from fanhub.pagination import Page, PageRequest
from fanhub.timeutil import iso_utc


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", [{"index": None, "field": field, "message": message}])


def base_context(session: Session, campaign: Campaign) -> dict[str, str]:
    """The merge fields that are the same for every recipient (organization and event)."""
    org = session.get(Organization, campaign.organization_id)
    context = {"organization": org.name if org else ""}
    if campaign.event_id is not None:
        event = session.get(Event, campaign.event_id)
        if event is not None:
            date, time = format_event_date(event.start_at, event.time_zone or (org.time_zone if org else None))
            context |= {
                "event_name": event.name,
                "event_url": event.url or "",
                "event_date": date,
                "event_time": time,
                "venue": event.location_name or "",
            }
    return context


def renderer_for(session: Session, campaign: Campaign, links: Any = None) -> CampaignRenderer:
    return CampaignRenderer(
        channel=campaign.type,
        body=campaign.body,
        subject=campaign.subject,
        base_context=base_context(session, campaign),
        public_url=get_settings().public_url,
        links=links or (lambda url: None),
    )


_SAMPLE = Recipient(
    delivery_id=0, address="fan@example.com", first_name="Alex", last_name="Fan", email="fan@example.com"
)


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
    if event_id is not None:
        event = session.get(Event, event_id)
        if event is None or event.organization_id != organization_id:
            raise _invalid("event_id", f"event {event_id} not found in this organization")
    campaign = Campaign(
        organization_id=organization_id,
        type=type,
        name=name,
        subject=subject,
        body=body,
        audience=segment,
        event_id=event_id,
        status=DRAFT,
        created_by=created_by,
    )
    # Render once with a sample recipient: template syntax and unknown merge fields fail here.
    renderer = renderer_for(session, campaign)
    if type == EMAIL:
        renderer.render_email(_SAMPLE)
    else:
        renderer.render_sms(_SAMPLE)
    session.add(campaign)
    session.flush()
    session.add(CampaignStats(campaign_id=campaign.id, organization_id=organization_id))
    session.flush()
    return campaign


def get_campaign(session: Session, organization_id: int, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.organization_id != organization_id:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


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
    campaign = get_campaign(session, organization_id, campaign_id)
    if campaign.status not in (DRAFT, SCHEDULED):
        raise _invalid("status", f"campaign {campaign_id} is already {campaign.status}")
    if at is not None and at.tzinfo is None:
        raise _invalid("at", "must carry a UTC offset")
    campaign.status = SCHEDULED
    campaign.scheduled_at = at or utcnow()
    session.flush()
    return campaign


def campaign_summary(campaign: Campaign, stats: CampaignStats | None) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "type": campaign.type,
        "name": campaign.name,
        "subject": campaign.subject,
        "status": campaign.status,
        "event_id": campaign.event_id,
        "audience": campaign.audience,
        "scheduled_at": iso_utc(campaign.scheduled_at),
        "delivered_at": iso_utc(campaign.delivered_at),
        "finished_at": iso_utc(stats.finished_at) if stats else None,
        "recipients": stats.recipients if stats else 0,
        "delivered": stats.delivered if stats else 0,
        "undelivered": stats.undelivered if stats else 0,
        "created_at": iso_utc(campaign.created_at),
    }


def list_campaigns(session: Session, organization_id: int) -> list[dict[str, Any]]:
    get_organization(session, organization_id)
    rows = session.execute(
        select(Campaign, CampaignStats)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.organization_id == organization_id)
        .order_by(Campaign.id.desc())
    )
    return [campaign_summary(c, s) for c, s in rows]


class CampaignRepository(Repository[Campaign]):
    model = Campaign
    noun = "campaign"


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
    query = repository.readable(organization_id)
    if type is not None:
        query = query.where(Campaign.type == type)
    if status is not None:
        query = query.where(Campaign.status == status)
    page: Page[Campaign] = repository.paginate(query.order_by(Campaign.id.desc()), request)
    return page
