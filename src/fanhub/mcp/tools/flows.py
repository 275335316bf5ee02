"""Flow (automation) tools: list flows, one flow's analytics, and create a flow DRAFT.

The figures are `flows.analytics`' (the same as `GET /v1/partners/flows/analytics`); a draft is
created through the flows service (which validates the document, naming each problem's JSON path).
No tool activates, pauses or resumes a flow: a person does that from the manager or the CLI.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.auth.actor import Actor
from fanhub.errors import InvalidInput
from fanhub.flows import service as flows
from fanhub.flows.analytics import analytics_rows, flow_detail
from fanhub.flows.analytics import flow_analytics as figures_page
from fanhub.flows.templates import get_template
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import DEFAULT_PAGE_SIZE, Page, PageSize, WriteCall, bad, page_request, read_tool, write_tool

FlowId = Annotated[int, Field(ge=1, description="fanhub flow id (from list_flows).")]
TemplateKey = Literal["order_thank_you", "know_before_you_go", "post_show", "welcome", "new_show_alert"]
CREATES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)


class FlowOut(s.Out):
    id: int
    name: str
    status: str = Field(description="draft (does nothing), active (reacts to triggers) or paused (holds enrollments).")
    trigger_type: str = Field(
        description="order_placed, before_event, after_event, subscribed, tag_added, list_joined or event_announced."
    )
    steps: int = Field(description="Number of steps.")
    activated_at: str | None = Field(description="When it was activated (UTC), if ever.")
    num_entered: int = Field(description="Enrollments so far (a contact once per trigger instance).")
    num_recipients: int = Field(description="Messages its send steps sent.")
    attributed_revenue: int = Field(description="Attributed revenue, minor units (cents), net of refunds.")

    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.status}, {self.trigger_type})"


class FlowList(s.Out):
    flows: list[FlowOut] = Field(description="Newest first.")
    paging: s.Paging


class FlowStepFigures(s.Out):
    index: int = Field(description="The step's position, from 0.")
    type: str
    channel: str | None
    subject: str | None
    figures: dict[str, int] = Field(description="The flow figures for this step alone (num_entered: reached it).")

    def label(self) -> str:
        return f"step {self.index} {self.type}"


class FlowAnalytics(s.Out):
    flow: FlowOut
    figures: dict[str, int] = Field(
        description="num_entered, num_exited_by_goal, num_recipients (messages sent), num_delivered, num_opens, "
        "num_links_clicked, num_unsubscribes, num_undelivered, attributed_tickets_sold, attributed_revenue (cents)."
    )
    steps: list[FlowStepFigures]
    interval: str
    time_series: dict[str, list[dict[str, Any]]] = Field(
        description="entered, exited_by_goal, sent, opens, clicks, attributed_orders: UTC buckets."
    )


class FlowDraft(s.Out):
    flow: FlowOut
    definition: dict[str, Any] = Field(description="The stored flow document.")
    note: str


def _flow_out(row: dict[str, Any]) -> FlowOut:
    return FlowOut(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        trigger_type=row["trigger_type"],
        steps=len(row["steps"]),
        activated_at=row["activated_at"],
        num_entered=row["num_entered"],
        num_recipients=row["num_recipients"],
        attributed_revenue=row["attributed_revenue"],
    )


@read_tool()
def list_flows(
    session: Session,
    actor: Actor,
    status: Annotated[
        Literal["draft", "active", "paused"] | None, Field(description="Only flows in this state.")
    ] = None,
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> FlowList:
    """The organization's flows (automations: order thank-you, reminders, welcome series, ...), newest
    first, drafts included, with how many contacts entered, messages sent and attributed revenue."""
    found = figures_page(session, actor.organization_id, page_request(page, page_size), status)
    return FlowList(
        flows=[_flow_out(row) for row in found.items],
        paging=s.paging("list_flows", page, page_size, found.has_more),
    )


def _figures(row: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in row.items() if k.startswith(("num_", "attributed_")) and isinstance(v, int)}


@read_tool()
def flow_analytics(
    session: Session,
    actor: Actor,
    flow_id: FlowId,
    interval: Annotated[Literal["day", "hour"], Field(description="Time series bucket (UTC).")] = "day",
) -> FlowAnalytics:
    """A flow's results, in total and per step: contacts entered (per step: reached), exited by goal,
    messages sent, delivered, unique opens and clicks, unsubscribes, undelivered, attributed tickets and
    revenue (the same figures as the flows analytics endpoint), plus time series."""
    detail = flow_detail(session, actor.organization_id, flow_id, interval)
    return FlowAnalytics(
        flow=_flow_out(detail),
        figures=_figures(detail),
        steps=[
            FlowStepFigures(
                index=st["index"], type=st["type"], channel=st["channel"], subject=st["subject"], figures=_figures(st)
            )
            for st in detail["steps"]
        ],
        interval=interval,
        time_series=detail["series"],
    )


@write_tool(CREATES)
def create_flow_draft(
    call: WriteCall,
    definition: Annotated[
        dict[str, Any] | None,
        Field(
            description='The flow document (issue 20\'s JSON): {"name", "trigger": {"type", ...}, "steps": [...], '
            '"exit", "reentry"}. Omit it to start from `template` unchanged.'
        ),
    ] = None,
    template: Annotated[
        TemplateKey | None,
        Field(description="Start from a common flow; `definition` fields given replace the template's."),
    ] = None,
) -> FlowDraft:
    """Create a flow DRAFT for staff to review; it is never activated here and nothing is sent.

    Give a full `definition`, or a `template` (order_thank_you, know_before_you_go, post_show, welcome,
    new_show_alert), or both (the definition's top-level fields override the template's). Every problem
    is reported with its JSON path (steps[2].duration). Needs an mcp:write token; the call is audited.
    Staff activate it from the manager or with `fanhub flow activate`.
    """
    if definition is None and template is None:
        raise bad("definition", "give a flow definition or a template")
    document: dict[str, Any] = get_template(template).definition() if template else {}
    document.update(definition or {})
    arguments = {"template": template, "name": document.get("name"), "trigger": document.get("trigger")}
    with call.audited(arguments) as (session, result):
        try:
            flow = flows.create_flow(session, call.actor.organization_id, document, created_by=call.actor.audit)
        except InvalidInput as exc:
            problems = "; ".join(f"{e.get('field') or 'flow'}: {e.get('message')}" for e in exc.errors) or exc.message
            raise ToolError(f"invalid flow definition: {problems}") from None
        session.flush()
        row = analytics_rows(session, [flow])[0]
        stored = dict(flow.definition)
        result.update({"flow_id": flow.id, "status": flow.status})
    return FlowDraft(
        flow=_flow_out(row),
        definition=stored,
        note="Draft only: it reacts to nothing until staff activate it from the manager or CLI.",
    )
