"""A campaign's merge fields (organization, event) and the renderer built from them.

Used by the service (previews, test sends) and by the sending pipe alike, so a test send and the
real send render the same text; kept apart from the service so the pipe does not import it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fanhub.campaigns.models import Campaign
from fanhub.campaigns.render import CampaignRenderer, format_event_date
from fanhub.catalog.models import Event
from fanhub.config import get_settings
from fanhub.organizations.models import Organization


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
        organization_id=campaign.organization_id,
    )
