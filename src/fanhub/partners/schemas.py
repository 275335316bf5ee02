"""Request and response bodies of the Partners API, field for field as Cymbal documents them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from fanhub.http_errors import BODY_TOO_LARGE, ErrorItem, ErrorResponse
from fanhub.ingest.records import (
    ContactFields,
    EventRecord,
    InterestedInEvent,
    OptIns,
    OrderRecord,
    Record,
    RequiredUrl,
    Url,
)


class PartnerEvent(EventRecord):
    """An event as partners send it: `url` and `image_url` are required here, unlike other sources."""

    url: RequiredUrl
    image_url: RequiredUrl


class CreateEventsRequest(Record):
    events: Annotated[list[PartnerEvent], Field(min_length=1)]


class CreateOrdersRequest(Record):
    orders: Annotated[list[OrderRecord], Field(min_length=1)]


class CreateContactRequest(Record):
    contact: ContactFields
    opt_ins: OptIns | None = None
    interested_in_event: InterestedInEvent | None = None


class SubscribeRequest(Record):
    contact: ContactFields
    ticket_url: Url | None = None


__all__ = ["ErrorItem", "ErrorResponse"]  # the API's error body, defined with the HTTP kit


class Accepted(BaseModel):
    code: int = 0
    message: str = "success"
    batch_id: str


class CampaignAnalytics(BaseModel):
    campaign_id: int
    campaign_name: str
    campaign_subject_line: str
    campaign_type: Literal["email", "sms"]
    delivered_at: str | None
    num_recipients: int
    num_opens: int
    num_links_clicked: int
    num_unsubscribes: int
    num_undelivered: int
    attributed_tickets_sold: int
    attributed_revenue: int = Field(description="In cents.")
    # fanhub's addition (Cymbal lists only delivered campaigns): where the send stands.
    status: Literal["sending", "paused", "sent", "cancelled"] = Field(
        description="Where the send stands: sending, paused, sent or cancelled."
    )
    # fanhub's additions: deliverability (bounces and complaints reported, suppressed addresses).
    paused_reason: str | None = Field(
        default=None, description="Why fanhub paused the campaign itself (bounce or complaint rate), while paused."
    )
    num_hard_bounces: int = Field(default=0, description="Hard bounces (SMTP-time or reported later).")
    num_soft_bounces: int = Field(default=0, description="Soft bounces (mailbox full, blocked, retries ran out).")
    num_complaints: int = Field(default=0, description="Spam complaints (these also unsubscribe).")
    num_suppressed: int = Field(
        default=0, description="Addresses left out because they were on the suppression list (never recipients)."
    )


class CampaignAnalyticsResponse(BaseModel):
    code: int = 0
    message: str = "success"
    response: list[CampaignAnalytics]


class FlowFigures(BaseModel):
    """A flow's or a step's figures: the campaign analytics fields, summed over its step campaigns."""

    num_entered: int = Field(description="Enrollments (a flow); enrollments that reached the step (a step).")
    num_exited_by_goal: int = Field(description="Enrollments ended by the exit goal (at this step, for a step).")
    num_recipients: int = Field(description="Messages sent (deliveries created).")
    num_delivered: int
    num_opens: int = Field(description="Unique recipients who opened (machine opens excluded).")
    num_links_clicked: int = Field(description="Unique recipients who clicked.")
    num_unsubscribes: int
    num_undelivered: int
    attributed_tickets_sold: int
    attributed_revenue: int = Field(description="In cents, net of refunds.")


class FlowStepAnalytics(FlowFigures):
    index: int = Field(description="The step's position in the flow's `steps`, from 0.")
    type: Literal["send", "wait", "condition", "tag", "untag", "add_to_list"]
    channel: Literal["email", "sms"] | None = Field(description="A send step's channel (null: the flow's order).")
    subject: str | None = Field(description="An email step's subject template.")


class FlowAnalytics(FlowFigures):
    id: int
    name: str
    status: Literal["draft", "active", "paused"]
    trigger_type: str
    activated_at: str | None
    steps: list[FlowStepAnalytics]


class FlowAnalyticsResponse(BaseModel):
    code: int = 0
    message: str = "success"
    response: list[FlowAnalytics]


class CountPoint(BaseModel):
    at: str = Field(description="The bucket's start (UTC), RFC 3339.")
    count: int


class OrderPoint(CountPoint):
    tickets: int
    revenue: int = Field(description="In cents, net of refunds.")


class FlowSeries(BaseModel):
    entered: list[CountPoint]
    exited_by_goal: list[CountPoint]
    sent: list[CountPoint] = Field(description="Messages sent by the flow's steps.")
    opens: list[CountPoint] = Field(description="First counted open per recipient.")
    clicks: list[CountPoint] = Field(description="First click per recipient.")
    attributed_orders: list[OrderPoint]


class FlowAnalyticsDetail(FlowAnalytics):
    interval: Literal["hour", "day"]
    series: FlowSeries


class FlowAnalyticsDetailResponse(BaseModel):
    code: int = 0
    message: str = "success"
    response: FlowAnalyticsDetail


class BatchStatus(BaseModel):
    batch_id: str
    kind: Literal["events", "orders", "contacts"]
    source: str
    status: Literal["queued", "applied", "failed"]
    item_count: int
    stats: dict[str, int]
    errors: list[ErrorItem]
    received_at: str
    applied_at: str | None


class BatchStatusResponse(BaseModel):
    code: int = 0
    message: str = "success"
    response: BatchStatus


class PagedResponse(BaseModel):
    code: int = 0
    message: str = "success"
    response: list[dict[str, Any]]
    page: int
    per_page: int
    has_more: bool


class ItemResponse(BaseModel):
    code: int = 0
    message: str = "success"
    response: dict[str, Any]


# Write endpoints read their body themselves (one-pass JSON validation), so their request schemas
# are declared here for OpenAPI and added to its components by `openapi_request_schemas`.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    CreateEventsRequest,
    CreateOrdersRequest,
    CreateContactRequest,
    SubscribeRequest,
)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def openapi_request_schemas() -> dict[str, Any]:
    """JSON schemas of the request models (and what they reference), keyed for `components.schemas`."""
    from pydantic.json_schema import models_json_schema

    _, definitions = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return schemas


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON."},
    403: {"model": ErrorResponse, "description": "Missing, unknown or revoked Cymbal-Partner-API-Key."},
    413: BODY_TOO_LARGE,
    422: {"model": ErrorResponse, "description": "Invalid items; nothing was queued. Each error names the item."},
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    403: ERROR_RESPONSES[403],
    404: {"model": ErrorResponse, "description": "Not found in this organization."},
    422: {"model": ErrorResponse, "description": "Invalid query parameter."},
}
