"""The engine: advances due enrollments, one bounded batch per call, with `now` passed in.

`advance(database, now)` claims up to `batch` enrollments of active flows whose `next_run_at` has
come (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the work; SQLite's single
writer serialises them) and runs each one's steps until it must wait, all in one transaction:
every step's `FlowStepRun` (unique per enrollment and step) is written with the step's effect
(the pending delivery of a send, the tag of a tag step) and the enrollment's new position, so a
crash either leaves the step not run or run once, and the sending itself is the pipe's
at-most-once (`flows.messages`). Each enrollment runs in a savepoint: one that breaks a rule of
the database (a race on a unique key) is retried on a later round, the others commit.

Before each step: the exit goal (`exit.bought_event`: an order for that event placed since the
contact entered, other than the order that triggered it, ends the enrollment as `exited`/goal);
for before_event / after_event enrollments, the event must not be cancelled and the contact must
still hold a non-refunded order for it (a refund before the reminder drops that contact:
`cancelled`). A moved event's pending steps are shifted by `triggers.reconcile_events`.

When a step sends: consent and suppression are read now (never when the contact entered); SMS
waits for the end of quiet hours; the frequency cap defers to the next local day or drops. The
engine stops creating messages while more than `MAX_BACKLOG` flow messages wait for the pipe, so
200,000 steps due in the same minute become messages at the pace the providers take them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, exists, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from fanhub.audience import list_optouts
from fanhub.audience.models import AudienceList, Contact, ContactList, ContactTag, Tag
from fanhub.audience.segments import segment_query
from fanhub.campaigns.models import Delivery
from fanhub.catalog.models import Event, Order
from fanhub.db.bulk import insert_rows
from fanhub.db.engine import Database
from fanhub.flows import messages, rules, triggers
from fanhub.flows.batch import BatchFacts
from fanhub.flows.definition import (
    AddToListStep,
    ConditionStep,
    FlowDefinition,
    SendStep,
    TagStep,
    UntagStep,
    WaitStep,
    parse_clock,
    parse_duration,
)
from fanhub.flows.models import ACTIVE, CANCELLED, COMPLETED, EXITED, RUNNING, Flow, FlowEnrollment, FlowStepRun
from fanhub.organizations.models import Organization

BATCH = 500
MAX_BACKLOG = 2000
EVENT_TRIGGERS = ("before_event", "after_event")
# What running steps changes on an enrollment (Runner._write_positions writes these).
POSITION = ("state", "step_index", "next_run_at", "exit_reason", "finished_at")


@dataclass
class _FlowCache:
    flow: Flow
    definition: FlowDefinition
    rules: rules.OrgRules


@dataclass
class Hold:
    """The step cannot run yet: look again at `until`."""

    until: datetime


@dataclass
class Next:
    """The step ran: go on `skip` steps further (1 = the next one), at `at` (None = now)."""

    at: datetime | None = None
    skip: int = 1


@dataclass
class Stop:
    """The enrollment ends."""

    state: str
    reason: str


Outcome = Hold | Next | Stop


def claim(session: Session, now: datetime, limit: int) -> list[FlowEnrollment]:
    """Due enrollments of active flows, oldest due first, locked for this transaction."""
    query = (
        select(FlowEnrollment)
        .join(Flow, Flow.id == FlowEnrollment.flow_id)
        .where(FlowEnrollment.state == RUNNING, FlowEnrollment.next_run_at <= now, Flow.status == ACTIVE)
        .order_by(FlowEnrollment.next_run_at, FlowEnrollment.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=FlowEnrollment)
    )
    return list(session.scalars(query))


def advance(database: Database, now: datetime, *, batch: int = BATCH, max_backlog: int = MAX_BACKLOG) -> int:
    """Run the due steps of up to `batch` enrollments; returns how many were claimed."""
    with database.write() as session:
        if messages.backlog(session) > max_backlog:
            return 0
        enrollments = claim(session, now, batch)
        Runner(session, now).run_batch(enrollments)
    return len(enrollments)


class Runner:
    """Runs enrollments' steps inside the caller's transaction."""

    def __init__(self, session: Session, now: datetime, *, dry: bool = False) -> None:
        self.session, self.now, self.dry = session, now, dry
        self.flows: dict[int, _FlowCache] = {}
        self.step_campaigns = messages.StepCampaigns(session, now)
        self.planned: list[dict[str, Any]] = []  # dry runs: the sends that would happen
        self.facts: BatchFacts | None = None  # a batch's facts read at once (run_batch)
        self._events: dict[int, Event | None] = {}
        # A batch's deliveries and send runs, inserted together at its end (_settle).
        self._deliveries: list[dict[str, Any]] = []
        self._send_runs: list[dict[str, Any]] = []
        self._runs: list[dict[str, Any]] = []  # the batch's other step runs
        self._dry_counts: dict[int, int] = {}  # dry runs: planned messages per contact (the cap)

    def cache(self, flow_id: int) -> _FlowCache:
        if flow_id not in self.flows:
            flow = self.session.get(Flow, flow_id)
            assert flow is not None
            org = self.session.get(Organization, flow.organization_id)
            self.flows[flow_id] = _FlowCache(flow, triggers.definition_of(flow), rules.OrgRules.of(org))
        return self.flows[flow_id]

    def run_batch(self, enrollments: list[FlowEnrollment]) -> None:
        """Run a batch with its facts read at once and its rows written in two flushes. A unique
        key broken by a concurrent worker (the same contact's round of a step campaign) undoes the
        batch, which then runs one enrollment at a time, each in its own savepoint."""
        if not enrollments:
            return
        try:
            with self.session.begin_nested():
                flow_ids = {e.flow_id for e in enrollments}  # per flow, not per enrollment
                goal_events = {event for flow_id in flow_ids for event in self._fixed_events(self.cache(flow_id))}
                self.facts = BatchFacts(self.session, enrollments, goal_events)
                for enrollment in enrollments:
                    self._run(enrollment)
                self._settle(enrollments)
        except IntegrityError:
            for enrollment in enrollments:
                self.session.expire(enrollment)  # back to their stored positions (_write_positions)
            self.facts, self._deliveries, self._send_runs, self._runs = None, [], [], []
            self.step_campaigns = messages.StepCampaigns(self.session, self.now)
            for enrollment in enrollments:
                self.run(enrollment)

    def _fixed_events(self, cached: _FlowCache) -> set[int]:
        """Event ids the flow's exit goal and conditions name (besides the trigger's event)."""
        named: list[Any] = [cached.definition.exit.bought_event] if cached.definition.exit else []
        named += [s.bought_event for s in cached.definition.steps if isinstance(s, ConditionStep)]
        return {int(event) for event in named if isinstance(event, int)}

    def _settle(self, enrollments: list[FlowEnrollment]) -> None:
        """The batch's rows: deliveries first, then the send runs get their delivery ids."""
        self._write_positions(enrollments)
        self.session.flush()
        messages.insert_runs_with_deliveries(self.session, self._deliveries, self._send_runs)
        insert_rows(self.session, FlowStepRun, self._runs)
        self._deliveries, self._send_runs, self._runs = [], [], []
        self.step_campaigns.flush_stats()
        self.session.flush()

    def _write_positions(self, enrollments: list[FlowEnrollment]) -> None:
        """The batch's new positions in one UPDATE per distinct position (a batch mostly moves
        the same way: 500 reminders sent, all completed at `now`) instead of the unit of work's
        UPDATE per row; the objects are then marked as stored, so the flush leaves them alone.
        A rolled-back batch expires them (run_batch)."""
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        moved = [e for e in enrollments if inspect(e).modified]
        for enrollment in moved:
            groups[tuple(getattr(enrollment, key) for key in POSITION)].append(enrollment.id)
        # On the connection, not through the session: its autoflush would write the rows first.
        table: Table = FlowEnrollment.__table__  # type: ignore[assignment]
        connection = self.session.connection()
        for values, ids in groups.items():
            position = dict(zip(POSITION, values, strict=True))
            connection.execute(update(table).where(table.c.id.in_(ids)).values(position))
        for enrollment in moved:
            for key in POSITION:
                set_committed_value(enrollment, key, getattr(enrollment, key))

    def run(self, enrollment: FlowEnrollment) -> None:
        """One enrollment in its own savepoint (a broken unique key leaves it for a later round)."""
        try:
            with self.session.begin_nested():
                self._run(enrollment)
        except IntegrityError:
            self.session.expire(enrollment)

    def _run(self, enrollment: FlowEnrollment) -> None:
        cached = self.cache(enrollment.flow_id)
        steps = cached.definition.steps
        for _ in range(len(steps) + 1):
            if enrollment.step_index >= len(steps):
                self._finish(enrollment, COMPLETED, None)
                return
            stop = self._gate(cached, enrollment)
            outcome = stop or self._step(cached, enrollment, enrollment.step_index)
            if isinstance(outcome, Stop):
                self._finish(enrollment, outcome.state, outcome.reason)
                return
            if isinstance(outcome, Hold):
                enrollment.next_run_at = outcome.until
                return
            enrollment.step_index += outcome.skip
            if outcome.at is not None and outcome.at > self.now:
                enrollment.next_run_at = outcome.at
                if enrollment.step_index >= len(steps):
                    continue  # a trailing wait: the enrollment completes now
                return
            enrollment.next_run_at = self.now
        self.session.flush()

    def _finish(self, enrollment: FlowEnrollment, state: str, reason: str | None) -> None:
        enrollment.state, enrollment.exit_reason = state, reason
        enrollment.finished_at, enrollment.next_run_at = self.now, None

    def _record(
        self, enrollment: FlowEnrollment, index: int, kind: str, outcome: str, **extra: Any
    ) -> FlowStepRun | None:
        if self.dry:
            return None
        if self.facts is not None:
            # A batch's runs are inserted together at its end (_settle), like its send runs: an ORM
            # object per wait or condition step was most of a step's cost.
            self._runs.append(
                {
                    "enrollment_id": enrollment.id,
                    "flow_id": enrollment.flow_id,
                    "contact_id": enrollment.contact_id,
                    "step_index": index,
                    "step_type": kind,
                    "outcome": outcome,
                    "ran_at": self.now,
                    "campaign_id": None,
                    "delivery_id": None,
                    **extra,
                }
            )
            return None
        run = FlowStepRun(
            enrollment_id=enrollment.id,
            flow_id=enrollment.flow_id,
            contact_id=enrollment.contact_id,
            step_index=index,
            step_type=kind,
            outcome=outcome,
            ran_at=self.now,
            **extra,
        )
        self.session.add(run)
        self.session.flush()
        return run

    # --- checks before every step ------------------------------------------------------------

    def _gate(self, cached: _FlowCache, enrollment: FlowEnrollment) -> Stop | None:
        goal = cached.definition.exit
        if goal is not None:
            event_id = enrollment.event_id if goal.bought_event == "trigger" else goal.bought_event
            if event_id is not None and self._bought(enrollment, int(event_id)):
                return Stop(EXITED, "goal")
        if cached.flow.trigger_type in EVENT_TRIGGERS and enrollment.event_id is not None:
            event = self._event(enrollment.event_id)
            if event is None or event.status in triggers.EVENT_CANCELED:
                return Stop(CANCELLED, "event_cancelled")
            if self.facts is not None:
                return None if self.facts.holds(enrollment.contact_id, event.id) else Stop(CANCELLED, "refunded")
            holds = self.session.scalar(
                select(Order.id)
                .where(Order.contact_id == enrollment.contact_id, Order.event_id == event.id)
                .where(Order.status.in_(triggers.LIVE_ORDER))
                .limit(1)
            )
            if holds is None:
                return Stop(CANCELLED, "refunded")
        return None

    def _event(self, event_id: int) -> Event | None:
        if event_id not in self._events:
            self._events[event_id] = self.session.get(Event, event_id)
        return self._events[event_id]

    def _bought(self, enrollment: FlowEnrollment, event_id: int) -> bool:
        trigger_order = enrollment.order_id or (enrollment.context or {}).get("order_id")
        if self.facts is not None:
            return self.facts.bought_since(enrollment.contact_id, event_id, enrollment.entered_at, trigger_order)
        query = select(Order.id).where(
            Order.contact_id == enrollment.contact_id,
            Order.event_id == event_id,
            Order.status.in_(triggers.LIVE_ORDER),
            Order.placed_at >= enrollment.entered_at,
        )
        if trigger_order is not None:
            query = query.where(Order.id != trigger_order)
        return self.session.scalar(query.limit(1)) is not None

    # --- the steps ---------------------------------------------------------------------------

    def _step(self, cached: _FlowCache, enrollment: FlowEnrollment, index: int) -> Outcome:
        step = cached.definition.steps[index]
        if isinstance(step, SendStep):
            return self._send(cached, enrollment, index, step)
        if isinstance(step, WaitStep):
            self._record(enrollment, index, "wait", "done")
            if step.duration is not None:
                return Next(at=self.now + parse_duration(step.duration))
            assert step.until is not None
            return Next(at=rules.next_clock(cached.rules, self.now, parse_clock(step.until)))
        if isinstance(step, ConditionStep):
            if self._holds(cached, enrollment, index, step):
                self._record(enrollment, index, "condition", "passed")
                return Next()
            self._record(enrollment, index, "condition", "failed")
            return Stop(EXITED, "condition") if step.otherwise == "exit" else Next(skip=2)
        self._label(cached.flow, enrollment, step)
        self._record(enrollment, index, step.type, "done")
        return Next()

    def _send(self, cached: _FlowCache, enrollment: FlowEnrollment, index: int, step: SendStep) -> Outcome:
        if self.facts is not None:
            contact = self.facts.contacts.get(enrollment.contact_id)
        else:
            contact = self.session.get(Contact, enrollment.contact_id)
        if contact is None:
            return Stop(CANCELLED, "contact_deleted")
        check = self.facts.is_suppressed if self.facts is not None else None
        channel, address, reason = messages.choose_channel(
            self.session, contact, step, cached.definition.channel_order, check
        )
        if channel is None or address is None:
            self._record(enrollment, index, "send", f"skipped_{reason}")
            return Next()
        if channel == "sms" and rules.in_quiet_hours(cached.rules, self.now):
            return Hold(rules.quiet_hours_end(cached.rules, self.now))
        if cached.rules.max_per_day > 0:
            start, end = rules.local_day(cached.rules, self.now)
            if self._sent_today(contact.id, start, end) >= cached.rules.max_per_day:
                if (cached.definition.over_cap or cached.rules.over_cap) == "drop":
                    self._record(enrollment, index, "send", "dropped_cap")
                    return Next()
                return Hold(end)
        if self.dry:
            self.planned.append(
                {
                    "contact_id": contact.id,
                    "enrollment_id": enrollment.id,
                    "step": index,
                    "channel": channel,
                    "at": self.now,
                }
            )
            self._dry_counts[contact.id] = self._dry_counts.get(contact.id, 0) + 1
            return Next()
        if self.facts is not None:
            campaign_id, delivery = self.step_campaigns.add(
                cached.flow, index, step, enrollment.event_id, contact.id, channel, address, self.facts.taken
            )
            self._deliveries.append(delivery)
            self._send_runs.append(
                {
                    "enrollment_id": enrollment.id,
                    "flow_id": enrollment.flow_id,
                    "contact_id": enrollment.contact_id,
                    "step_index": index,
                    "step_type": "send",
                    "outcome": "sent",
                    "ran_at": self.now,
                    "campaign_id": campaign_id,
                    "delivery_id": None,
                }
            )
            self.facts.count_sent(contact.id)
            return Next()
        campaign_id, delivery_id = self.step_campaigns.deliver(
            cached.flow, index, step, enrollment.event_id, contact.id, channel, address
        )
        self._record(enrollment, index, "send", "sent", campaign_id=campaign_id, delivery_id=delivery_id)
        return Next()

    def _sent_today(self, contact_id: int, start: datetime, end: datetime) -> int:
        if self.facts is not None:
            return self.facts.sent_today(contact_id, start, end)
        counted = messages.messages_today(self.session, contact_id, start, end)
        return counted + (self._dry_counts.get(contact_id, 0) if self.dry else 0)

    def _holds(self, cached: _FlowCache, enrollment: FlowEnrollment, index: int, step: ConditionStep) -> bool:
        org, contact_id = cached.flow.organization_id, enrollment.contact_id
        if step.segment is not None:
            in_segment = any(
                self.session.scalar(
                    select(
                        exists().where(
                            segment_query(org, step.segment, channel, suppressed=None).subquery().c.id == contact_id
                        )
                    )
                )
                for channel in ("email", "sms")
            )
            if not in_segment:
                return False
        if step.bought_event is not None:
            event_id = enrollment.event_id if step.bought_event == "trigger" else int(step.bought_event)
            bought = event_id is not None and self.session.scalar(
                select(Order.id)
                .where(
                    Order.contact_id == contact_id, Order.event_id == event_id, Order.status.in_(triggers.LIVE_ORDER)
                )
                .limit(1)
            )
            if not bought:
                return False
        if step.opened_previous is not None or step.clicked_previous is not None:
            delivery = self._previous_delivery(enrollment, index)
            opened = delivery is not None and delivery.opened_at is not None
            clicked = delivery is not None and delivery.clicked_at is not None
            if step.opened_previous is not None and opened != step.opened_previous:
                return False
            if step.clicked_previous is not None and clicked != step.clicked_previous:
                return False
        return True

    def _previous_delivery(self, enrollment: FlowEnrollment, index: int) -> Delivery | None:
        delivery_id = self.session.scalar(
            select(FlowStepRun.delivery_id)
            .where(
                FlowStepRun.enrollment_id == enrollment.id,
                FlowStepRun.step_index < index,
                FlowStepRun.delivery_id.is_not(None),
            )
            .order_by(FlowStepRun.step_index.desc())
            .limit(1)
        )
        return self.session.get(Delivery, delivery_id) if delivery_id is not None else None

    def _label(self, flow: Flow, enrollment: FlowEnrollment, step: TagStep | UntagStep | AddToListStep | Any) -> None:
        if self.dry:
            return
        org, contact_id = flow.organization_id, enrollment.contact_id
        if isinstance(step, TagStep):
            added = []
            for name in step.add:
                tag_id = self._tag_id(org, name)
                linked = self.session.get(ContactTag, (contact_id, tag_id))
                if linked is None:
                    self.session.add(ContactTag(contact_id=contact_id, tag_id=tag_id))
                    added.append((contact_id, tag_id))
            self.session.flush()
            triggers.on_labels(self.session, org, "tag", added)
        elif isinstance(step, UntagStep):
            tag_ids = select(Tag.id).where(Tag.organization_id == org, Tag.name.in_(step.remove))
            self.session.execute(
                delete(ContactTag).where(and_(ContactTag.contact_id == contact_id, ContactTag.tag_id.in_(tag_ids)))
            )
        elif isinstance(step, AddToListStep):
            owned = self.session.get(AudienceList, step.list_id)
            if owned is None or owned.organization_id != org:
                return  # the list was deleted since the flow was written: nothing to add to
            if not list_optouts.without_optouts(self.session, org, [(contact_id, step.list_id)]):
                return  # the person left this list themselves (preference center): a flow never re-adds them
            if self.session.get(ContactList, (contact_id, step.list_id)) is None:
                self.session.add(ContactList(contact_id=contact_id, list_id=step.list_id))
                self.session.flush()
                triggers.on_labels(self.session, org, "list", [(contact_id, step.list_id)])

    def _tag_id(self, organization_id: int, name: str) -> int:
        found = self.session.scalar(select(Tag.id).where(Tag.organization_id == organization_id, Tag.name == name))
        if found is not None:
            return int(found)
        tag = Tag(organization_id=organization_id, name=name)
        self.session.add(tag)
        self.session.flush()
        return tag.id


# --- simulate ------------------------------------------------------------------------------------


def _waiting(session: Session, flow: Flow, until: datetime) -> Iterator[FlowEnrollment]:
    query = (
        select(FlowEnrollment)
        .where(FlowEnrollment.flow_id == flow.id, FlowEnrollment.state == RUNNING, FlowEnrollment.next_run_at <= until)
        .order_by(FlowEnrollment.next_run_at, FlowEnrollment.id)
        .limit(10000)
    )
    yield from session.scalars(query)


def _plan_fires(session: Session, flow: Flow, now: datetime, until: datetime) -> None:
    """Inside plan's savepoint: the event moments of a before/after_event flow that come before
    `until` enroll their current holders, as the scan will."""
    if flow.trigger_type not in EVENT_TRIGGERS or flow.status != ACTIVE:
        return
    trigger = triggers.definition_of(flow).trigger
    assert isinstance(trigger, triggers.EventTime)
    for event in triggers.due_events(session, flow, trigger, until):
        anchor = triggers.event_anchor(trigger.type, event)
        offset = trigger.offset_delta
        moment = anchor - offset if trigger.type == "before_event" else anchor + offset
        triggers.fire_event(session, flow, trigger, event, max(moment, now))


def plan(session: Session, flow: Flow, now: datetime, until: datetime) -> list[dict[str, Any]]:
    """The sends current enrollments would make from `now` until `until` if nothing else changed
    (no new enrollments, no opens or purchases), in time order; nothing is written (every change
    is rolled back with a savepoint)."""
    planned: list[dict[str, Any]] = []
    savepoint = session.begin_nested()
    try:
        _plan_fires(session, flow, now, until)
        runner = Runner(session, now, dry=True)
        pending = sorted(_waiting(session, flow, until), key=lambda e: (e.next_run_at or now, e.id))
        for enrollment in pending:
            for _ in range(200):  # bounded: a step holds or moves forward each turn
                at = max(enrollment.next_run_at or now, now)
                if enrollment.state != RUNNING or at > until:
                    break
                runner.now = at
                runner.step_campaigns.now = at
                before = len(runner.planned)
                runner._run(enrollment)
                for send in runner.planned[before:]:
                    send["at"] = at
                if (
                    enrollment.next_run_at is not None
                    and enrollment.next_run_at <= at
                    and len(runner.planned) == before
                ):
                    break  # no progress possible
        planned = sorted(runner.planned, key=lambda s: (s["at"], s["contact_id"]))
    finally:
        savepoint.rollback()
        session.expire_all()
    return [{**send, "at": send["at"].isoformat()} for send in planned]


def next_due(session: Session) -> datetime | None:
    """The earliest due time of any running enrollment of an active flow (for the worker's idle)."""
    return session.scalar(
        select(FlowEnrollment.next_run_at)
        .join(Flow, Flow.id == FlowEnrollment.flow_id)
        .where(FlowEnrollment.state == RUNNING, Flow.status == ACTIVE)
        .order_by(FlowEnrollment.next_run_at)
        .limit(1)
    )


__all__ = ["BATCH", "MAX_BACKLOG", "Runner", "advance", "claim", "next_due", "plan", "timedelta"]
