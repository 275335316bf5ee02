"""A contact's campaign history: the one read behind the manager's contact page and MCP's get_contact.

Each front door renders it its own way (the manager formats times in the organization's zone, MCP
returns RFC 3339 strings); the rows, their order and the limit are decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.campaigns.models import Campaign, Delivery


@dataclass(frozen=True)
class CampaignTouch:
    campaign_id: int
    campaign: str
    type: str
    channel: str
    status: str
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    unsubscribed_at: datetime | None


def contact_campaign_history(
    session: Session, organization_id: int, contact_id: int, limit: int = 50
) -> list[CampaignTouch]:
    """The contact's deliveries, newest first, with first open, first click and unsubscribe."""
    query = (
        select(Delivery, Campaign.name, Campaign.type)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.organization_id == organization_id, Delivery.contact_id == contact_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return [
        CampaignTouch(
            campaign_id=d.campaign_id,
            campaign=name,
            type=kind,
            channel=d.channel,
            status=d.status,
            sent_at=d.sent_at,
            opened_at=d.opened_at,
            clicked_at=d.clicked_at,
            unsubscribed_at=d.unsubscribed_at,
        )
        for d, name, kind in session.execute(query)
    ]
