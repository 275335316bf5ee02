"""The suppression list as an MCP read tool: which addresses nothing is sent to, and why."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.auth.actor import Actor
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import DEFAULT_PAGE_SIZE, Page, PageSize, read_tool
from fanhub.timeutil import iso_utc

Reason = Literal["hard_bounce", "soft_bounce", "complaint", "manual", "imported", "unengaged", "erased"]


class SuppressionOut(s.Out):
    address: str = Field(description="The suppressed email address (lower-cased).")
    reason: str = Field(
        description="hard_bounce, soft_bounce (repeated), complaint (spam report; also unsubscribed), manual "
        "(staff), imported (another provider's list), unengaged (sunset) or erased."
    )
    source: str = Field(description="Where it came from: bounce:dsn, webhook:ses, smtp, staff:3, import:file.csv, cli.")
    created_at: str | None = Field(description="When it was suppressed (UTC).")

    def label(self) -> str:
        return f"{self.address} ({self.reason}, {self.source})"


class SuppressionList(s.Out):
    suppressions: list[SuppressionOut] = Field(description="Newest first.")
    reason: str | None = Field(description="The reason filter applied, if any.")
    paging: s.Paging


@read_tool()
def list_suppressions(
    session: Session,
    actor: Actor,
    reason: Annotated[Reason | None, Field(description="Only addresses suppressed for this reason.")] = None,
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> SuppressionList:
    """The organization's suppression list, newest first: addresses no email goes to, whatever their
    consent says (hard bounces, repeated soft bounces, spam complaints, staff's and imported entries).
    Campaigns leave them out and count them as num_suppressed in campaign_analytics."""
    entries, has_more = suppression.page(session, actor.organization_id, page=page, per_page=page_size, reason=reason)
    return SuppressionList(
        suppressions=[
            SuppressionOut(address=e.address, reason=e.reason, source=e.source, created_at=iso_utc(e.created_at))
            for e in entries
        ],
        reason=reason,
        paging=s.paging("list_suppressions", page, page_size, has_more),
    )
