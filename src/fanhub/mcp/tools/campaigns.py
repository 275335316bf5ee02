"""Campaign tools: list campaigns, one campaign's analytics (the same figures as the analytics endpoint)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.auth.actor import Actor
from fanhub.campaigns.analytics import campaign_detail
from fanhub.campaigns.models import Campaign
from fanhub.campaigns.service import get_campaign, page_campaigns
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import DEFAULT_PAGE_SIZE, CampaignId, Page, PageSize, page_request, read_tool
from fanhub.timeutil import iso_utc


def campaign_view(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "type": campaign.type,
        "name": campaign.name,
        "subject": campaign.subject,
        "status": campaign.status,
        "event_id": campaign.event_id,
        "audience": campaign.audience or {},
        "created_by": campaign.created_by,
        "created_at": iso_utc(campaign.created_at),
        "scheduled_at": iso_utc(campaign.scheduled_at),
        "delivered_at": iso_utc(campaign.delivered_at),
        "resource_uri": f"fanhub://campaigns/{campaign.id}",
    }


@read_tool()
def list_campaigns(
    session: Session,
    actor: Actor,
    type: Annotated[Literal["email", "sms"] | None, Field(description="Only email or SMS campaigns.")] = None,
    status: Annotated[
        Literal["draft", "scheduled", "sending", "sent"] | None, Field(description="Only campaigns in this state.")
    ] = None,
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> s.CampaignList:
    """The organization's email and SMS campaigns, newest first, drafts included."""
    found = page_campaigns(session, actor.organization_id, page_request(page, page_size), type=type, status=status)
    return s.CampaignList(
        campaigns=[s.CampaignSummary.model_validate(campaign_view(c)) for c in found.items],
        paging=s.paging("list_campaigns", page, page_size, found.has_more),
    )


@read_tool()
def campaign_analytics(
    session: Session,
    actor: Actor,
    campaign_id: CampaignId,
    interval: Annotated[Literal["day", "hour"], Field(description="Time series bucket (UTC).")] = "day",
) -> s.CampaignAnalytics:
    """A campaign's results: recipients, unique opens and clicks, unsubscribes, undelivered, attributed
    tickets and revenue (the same figures as the analytics endpoint), plus time series."""
    campaign = get_campaign(session, actor.organization_id, campaign_id)
    detail = campaign_detail(session, actor.organization_id, campaign_id, interval=interval)
    figures = {k: v for k, v in detail.items() if k.startswith(("num_", "attributed_"))}
    return s.CampaignAnalytics(
        campaign=s.CampaignSummary.model_validate(campaign_view(campaign)),
        figures=figures,
        interval=interval,
        time_series=detail.get("series", {}),
    )
