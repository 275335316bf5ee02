"""Typed views of campaigns, as every front door (manager, CLI, MCP, Partners API) receives them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CampaignView(BaseModel):
    """A campaign in lists: what it is, its state, and its sending counters."""

    id: int
    type: str
    name: str
    subject: str | None
    status: str
    event_id: int | None
    audience: dict[str, Any]
    scheduled_at: str | None
    delivered_at: str | None
    paused_at: str | None = None
    cancelled_at: str | None = None
    finished_at: str | None
    recipients: int
    delivered: int
    undelivered: int
    created_at: str | None
    actions: list[str] = Field(description="What may be done to it now (campaigns/lifecycle.py).")


class CampaignChanges(BaseModel):
    """An edit of a draft: only the fields given change (`model_fields_set`); `event_id` None clears it."""

    name: str | None = None
    subject: str | None = None
    body: str | None = None
    audience: dict[str, Any] | None = None
    event_id: int | None = None


class CampaignProgress(BaseModel):
    """A send as it goes: recipients reached so far, the rate, and when it should finish."""

    campaign_id: int
    status: str
    total: int = Field(description="Recipients, fixed when sending started.")
    settled: int = Field(description="Recipients whose message is done with: sent, undelivered or skipped.")
    sent: int
    undelivered: int
    skipped: int
    unknown: int
    remaining: int
    percent: int
    per_second: float | None = Field(description="Recipients settled per second while sending (pauses left out).")
    eta_seconds: int | None
    estimated_finish: str | None
    started_at: str | None
    paused_at: str | None
    finished_at: str | None
    actions: list[str]
    text: str = Field(description="One line for people.")


class TestSendResult(BaseModel):
    """A test send: who received it and whose merge fields it was rendered with."""

    __test__ = False  # not a pytest class

    campaign_id: int
    to: list[str]
    rendered_for: str = Field(description="The contact whose merge fields were used, or 'Test'.")
    contact_id: int | None
    suppressed: list[str] = Field(default_factory=list, description="Addresses left out: on the suppression list.")
