"""Flow analytics, per flow and per step, as `GET /v1/partners/flows/analytics` documents them.

Every send step is backed by hidden step campaigns (`campaigns.flow_id`, `flow_step`, one per
round: see `flows.engine`), so a step's message figures are its campaigns' `CampaignStats`, summed,
and a flow's are the sum over its steps: the same counters, kept in the same transactions, as the
campaign analytics (`campaigns/analytics.py`), with the same names and meaning:

- `num_recipients` (messages the step sent: deliveries created), `num_delivered`, `num_undelivered`,
  `num_opens` / `num_links_clicked` (unique recipients per step campaign, machine opens excluded),
  `num_unsubscribes`, `attributed_tickets_sold` / `attributed_revenue` (minor units, net of
  refunds: last-touch attribution credits a flow message exactly as a campaign message);
- `num_entered`: enrollments (a contact entering once per trigger instance); for a step, the
  enrollments that reached it: those that ran it (a `FlowStepRun`) plus those waiting at it or
  that left the flow there before it ran;
- `num_exited_by_goal`: enrollments ended by the exit goal; for a step, those whose goal held
  while they were at that step (the engine checks the goal before running each step, and a wait
  step runs when the wait starts, so a goal met during a wait counts at the step after the wait).

A page of flows costs a fixed number of grouped queries (no query per flow or step). Time series
are bucketed by UTC hour or day in SQL, like the campaign detail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

# The campaign detail's bucketing (UTC hour or day as RFC 3339 text, portable across SQLite and
# PostgreSQL): one definition, so flow and campaign series bucket identically.
from fanhub.campaigns.analytics import _bucket_sql as bucket_sql
from fanhub.campaigns.models import Attribution, Campaign, CampaignStats, Delivery
from fanhub.campaigns.report import Amount
from fanhub.flows.models import COMPLETED, EXITED, Flow, FlowEnrollment, FlowStepRun
from fanhub.flows.service import get_flow
from fanhub.pagination import Page, PageRequest, paginate
from fanhub.timeutil import iso_utc

# What ends an enrollment when its exit goal holds (`FlowEnrollment.exit_reason`, flows/engine.py).
GOAL_REASON = "goal"

# Message figures, each a CampaignStats column summed over the step campaigns.
MESSAGE_FIGURES: dict[str, Any] = {
    "num_recipients": CampaignStats.recipients,
    "num_delivered": CampaignStats.delivered,
    "num_opens": CampaignStats.opens,
    "num_links_clicked": CampaignStats.clickers,
    "num_unsubscribes": CampaignStats.unsubscribes,
    "num_undelivered": CampaignStats.undelivered,
    "attributed_tickets_sold": CampaignStats.attributed_tickets,
    "attributed_revenue": CampaignStats.attributed_revenue,
}
FIGURES = ("num_entered", "num_exited_by_goal", *MESSAGE_FIGURES)


def flow_analytics(
    session: Session, organization_id: int, request: PageRequest, status: str | None = None
) -> Page[dict[str, Any]]:
    """The organization's flows, newest first (drafts too: their figures are zeros), with figures."""
    query = select(Flow).where(Flow.organization_id == organization_id)
    if status:
        query = query.where(Flow.status == status)
    page = paginate(session, query.order_by(Flow.id.desc()), request)
    return Page(analytics_rows(session, page.items), page.page, page.per_page, page.has_more)


def analytics_rows(session: Session, flows: Sequence[Flow]) -> list[dict[str, Any]]:
    """One row per flow: its figures and `steps`, a row per step of its definition with the same figures."""
    ids = [f.id for f in flows]
    per_step = _step_figures(session, ids)
    entered = _entered(session, ids)
    rows = []
    for flow in flows:
        steps = []
        for index, step in enumerate(flow.definition.get("steps") or []):
            figures = per_step.get((flow.id, index)) or dict.fromkeys(FIGURES, 0)
            steps.append({"index": index, **_step_label(step), **figures})
        totals = {name: sum(s[name] for s in steps) for name in MESSAGE_FIGURES}
        rows.append(
            {
                "id": flow.id,
                "name": flow.name,
                "status": flow.status,
                "trigger_type": flow.trigger_type,
                "activated_at": iso_utc(flow.activated_at),
                "num_entered": entered.get(flow.id, 0),
                "num_exited_by_goal": sum(s["num_exited_by_goal"] for s in steps),
                **totals,
                "steps": steps,
            }
        )
    return rows


def _step_label(step: dict[str, Any]) -> dict[str, Any]:
    """What identifies a step to a reader: its type, and for a send its channel and subject."""
    kind = str(step.get("type", ""))
    return {
        "type": kind,
        "channel": step.get("channel") if kind == "send" else None,
        "subject": step.get("subject") if kind == "send" else None,
    }


def _entered(session: Session, flow_ids: Sequence[int]) -> dict[int, int]:
    if not flow_ids:
        return {}
    rows = session.execute(
        select(FlowEnrollment.flow_id, func.count())
        .where(FlowEnrollment.flow_id.in_(list(flow_ids)))
        .group_by(FlowEnrollment.flow_id)
    )
    return {int(flow_id): int(n) for flow_id, n in rows}


def _step_figures(session: Session, flow_ids: Sequence[int]) -> dict[tuple[int, int], dict[str, int]]:
    """(flow id, step index) -> figures, from four grouped queries over the page's flows."""
    out: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    if not flow_ids:
        return out
    ids = list(flow_ids)
    sums = [func.coalesce(func.sum(column), 0) for column in MESSAGE_FIGURES.values()]
    for flow_id, step, *values in session.execute(
        select(Campaign.flow_id, Campaign.flow_step, *sums)
        .join(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.flow_id.in_(ids))
        .group_by(Campaign.flow_id, Campaign.flow_step)
    ):
        out[(int(flow_id), int(step))].update(zip(MESSAGE_FIGURES, (int(v) for v in values), strict=True))
    for flow_id, step, n in session.execute(
        select(FlowStepRun.flow_id, FlowStepRun.step_index, func.count(func.distinct(FlowStepRun.enrollment_id)))
        .where(FlowStepRun.flow_id.in_(ids))
        .group_by(FlowStepRun.flow_id, FlowStepRun.step_index)
    ):
        out[(int(flow_id), int(step))]["num_entered"] += int(n)
    # Enrollments at a step they have not run: waiting there (a wait, a deferral, a pause), or gone
    # from there (goal, cancellation). A completed enrollment ran every step it counts for.
    not_run = ~exists().where(
        and_(FlowStepRun.enrollment_id == FlowEnrollment.id, FlowStepRun.step_index == FlowEnrollment.step_index)
    )
    for flow_id, step, n in session.execute(
        select(FlowEnrollment.flow_id, FlowEnrollment.step_index, func.count())
        .where(FlowEnrollment.flow_id.in_(ids), FlowEnrollment.state != COMPLETED, not_run)
        .group_by(FlowEnrollment.flow_id, FlowEnrollment.step_index)
    ):
        out[(int(flow_id), int(step))]["num_entered"] += int(n)
    for flow_id, step, n in session.execute(
        select(FlowEnrollment.flow_id, FlowEnrollment.step_index, func.count())
        .where(
            FlowEnrollment.flow_id.in_(ids),
            FlowEnrollment.state == EXITED,
            FlowEnrollment.exit_reason == GOAL_REASON,
        )
        .group_by(FlowEnrollment.flow_id, FlowEnrollment.step_index)
    ):
        out[(int(flow_id), int(step))]["num_exited_by_goal"] += int(n)
    return out


def revenue_by_flow(session: Session, organization_id: int, flow_ids: Sequence[int]) -> dict[int, list[Amount]]:
    """Attributed revenue (net of refunds) per flow, one amount per currency, largest first: what
    `attributed_revenue` sums across currencies, for people to read."""
    out: dict[int, list[Amount]] = {flow_id: [] for flow_id in flow_ids}
    if not flow_ids:
        return out
    for flow_id, currency, cents in session.execute(
        select(Campaign.flow_id, Attribution.currency, func.sum(Attribution.revenue_cents))
        .join(Campaign, Campaign.id == Attribution.campaign_id)
        .where(Attribution.organization_id == organization_id, Campaign.flow_id.in_(list(flow_ids)))
        .group_by(Campaign.flow_id, Attribution.currency)
    ):
        out[flow_id or 0].append(Amount(minor=int(cents or 0), currency=currency))
    for amounts in out.values():
        amounts.sort(key=lambda a: (-a.minor, a.currency))
    return out


def flow_detail(session: Session, organization_id: int, flow_id: int, interval: str = "day") -> dict[str, Any]:
    """One flow: its row (with steps) and time series bucketed by UTC hour or day: enrollments
    entered and exited by goal, messages sent, first opens and clicks per recipient, attributed
    orders with tickets and revenue. Another organization's flow is NotFound."""
    flow = get_flow(session, organization_id, flow_id)
    row = analytics_rows(session, [flow])[0]
    dialect = session.get_bind().dialect.name
    series: dict[str, dict[str, dict[str, int]]] = {}

    def count_by(name: str, column: Any, *where: Any, join_campaign: bool = False) -> None:
        bucket = bucket_sql(column, interval, dialect)
        query = select(bucket, func.count()).where(column.is_not(None), *where).group_by(bucket)
        if join_campaign:
            query = query.join(Campaign, Campaign.id == Delivery.campaign_id)
        series[name] = {str(at): {"count": int(n)} for at, n in session.execute(query)}

    count_by("entered", FlowEnrollment.entered_at, FlowEnrollment.flow_id == flow_id)
    count_by(
        "exited_by_goal",
        FlowEnrollment.finished_at,
        FlowEnrollment.flow_id == flow_id,
        FlowEnrollment.state == EXITED,
        FlowEnrollment.exit_reason == GOAL_REASON,
    )
    for name, column in (("sent", Delivery.sent_at), ("opens", Delivery.opened_at), ("clicks", Delivery.clicked_at)):
        count_by(name, column, Campaign.flow_id == flow_id, join_campaign=True)
    bucket = bucket_sql(Attribution.placed_at, interval, dialect)
    series["attributed_orders"] = {
        str(at): {"count": int(n), "tickets": int(tickets or 0), "revenue": int(revenue or 0)}
        for at, n, tickets, revenue in session.execute(
            select(bucket, func.count(), func.sum(Attribution.tickets), func.sum(Attribution.revenue_cents))
            .join(Campaign, Campaign.id == Attribution.campaign_id)
            .where(Campaign.flow_id == flow_id)
            .group_by(bucket)
        )
    }
    return {
        **row,
        "interval": interval,
        "series": {name: [{"at": at, **values} for at, values in sorted(b.items())] for name, b in series.items()},
    }
