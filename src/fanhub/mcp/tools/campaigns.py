"""Campaign tools: list campaigns, one campaign's analytics (the same figures as the analytics endpoint)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.auth.actor import Actor
from fanhub.campaigns.analytics import campaign_detail
from fanhub.campaigns.service import campaign_view as service_view
from fanhub.campaigns.service import get_campaign, page_campaigns
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import DEFAULT_PAGE_SIZE, CampaignId, Page, PageSize, page_request, read_tool

DELIVERABILITY_FIGURES = ("num_hard_bounces", "num_soft_bounces", "num_complaints", "num_suppressed")


def campaign_view(session: Session, organization_id: int, campaign_id: int) -> s.CampaignSummary:
    """The campaigns service's view of the campaign, with who created it and its resource URI."""
    view = service_view(session, organization_id, campaign_id)
    created_by = get_campaign(session, organization_id, campaign_id).created_by
    return s.CampaignSummary.model_validate(
        {**view.model_dump(), "created_by": created_by, "resource_uri": f"fanhub://campaigns/{campaign_id}"}
    )


@read_tool()
def list_campaigns(
    session: Session,
    actor: Actor,
    type: Annotated[Literal["email", "sms"] | None, Field(description="Only email or SMS campaigns.")] = None,
    status: Annotated[
        Literal["draft", "scheduled", "sending", "paused", "sent", "cancelled"] | None,
        Field(description="Only campaigns in this state."),
    ] = None,
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> s.CampaignList:
    """The organization's email and SMS campaigns, newest first, drafts included."""
    found = page_campaigns(session, actor.organization_id, page_request(page, page_size), type=type, status=status)
    return s.CampaignList(
        campaigns=[campaign_view(session, actor.organization_id, c.id) for c in found.items],
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
    tickets and revenue (the same figures as the analytics endpoint), its deliverability (hard and
    soft bounces, spam complaints, addresses left out as suppressed), plus time series."""
    campaign = campaign_view(session, actor.organization_id, campaign_id)
    detail = campaign_detail(session, actor.organization_id, campaign_id, interval=interval)
    figures = {k: v for k, v in detail.items() if k.startswith(("num_", "attributed_"))}
    for name in DELIVERABILITY_FIGURES:  # always present, so a model can rely on them
        figures.setdefault(name, 0)
    return s.CampaignAnalytics(
        campaign=campaign,
        figures=figures,
        interval=interval,
        time_series=detail.get("series", {}),
    )
