"""The engine's rules, each with time moved by the test: consent and suppression read when a step
sends, quiet hours, the frequency cap (defer and drop), the exit goal, conditions, waits, moved
and cancelled events, a refund before a reminder, pause and resume, simulate, list opt-outs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.campaigns.conftest import add_contact, add_event, order, post_orders
from tests.conftest import Tenant, post_and_apply
from tests.examples import EVENTS, fresh
from tests.flows.core_helpers import (
    EMAIL_STEP,
    SMS_STEP,
    T0,
    document,
    enrollments,
    flow_deliveries,
    make_flow,
    runs,
    set_org,
    settle,
)

from fanhub.audience import list_optouts, suppression
from fanhub.audience.models import Contact, ContactList, ContactTag, Tag
from fanhub.audience.service import create_list
from fanhub.campaigns.models import Campaign
from fanhub.db.engine import Database
from fanhub.flows import service
from fanhub.flows.models import CANCELLED, COMPLETED, EXITED, RUNNING

PLACED = T0 + timedelta(days=1)  # 2024-02-02 12:00 UTC
START = datetime(2024, 3, 2, 15, 30, tzinfo=UTC)
PHONE = "+15555550101"


def _order_flow(db: Database, tenant: Tenant, *steps: dict[str, object], **extra: object) -> int:
    return make_flow(db, tenant.organization_id, document({"type": "order_placed"}, *steps, **extra))


def _buy(
    client: TestClient, db: Database, tenant: Tenant, order_id: str = "o1", at: datetime = PLACED, **kw: object
) -> None:
    post_orders(client, db, tenant, order(order_id, "ann@example.com", at, **kw))


def _setup(client: TestClient, db: Database, tenant: Tenant, **contact: object) -> tuple[int, int]:
    event_id = add_event(client, db, tenant)
    contact_id = add_contact(client, db, tenant, "ann@example.com", **contact)  # type: ignore[arg-type]
    return event_id, contact_id


def test_consent_withdrawn_between_steps_skips_the_send_and_never_resubscribes(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    _, ann = _setup(client, db, tenant)
    flow_id = _order_flow(db, tenant, EMAIL_STEP, {"type": "wait", "duration": "PT1H"}, EMAIL_STEP)
    _buy(client, db, tenant)
    settle(db, PLACED)
    assert runs(db, flow_id) == [(ann, 0, "sent"), (ann, 1, "done")]
    add_contact(client, db, tenant, "ann@example.com", email_opt_in=False)
    settle(db, PLACED + timedelta(hours=1))
    assert runs(db, flow_id)[-1] == (ann, 2, "skipped_consent")
    assert [e.state for e in enrollments(db, flow_id)] == [COMPLETED]
    assert len(flow_deliveries(db, flow_id)) == 1
    with db.read() as session:
        contact = session.get(Contact, ann)
        assert contact is not None and contact.email_status == "unsubscribed"


def test_suppressed_address_is_skipped(client: TestClient, db: Database, tenant: Tenant) -> None:
    _, ann = _setup(client, db, tenant)
    flow_id = _order_flow(db, tenant, EMAIL_STEP)
    with db.write() as session:
        suppression.suppress(session, tenant.organization_id, "ann@example.com", "hard_bounce", "test")
    _buy(client, db, tenant)
    settle(db, PLACED)
    assert runs(db, flow_id) == [(ann, 0, "skipped_suppressed")]
    assert flow_deliveries(db, flow_id) == []


def test_channel_order_falls_back_to_sms(client: TestClient, db: Database, tenant: Tenant) -> None:
    _, ann = _setup(client, db, tenant, phone=PHONE, email_opt_in=False, sms_opt_in=True)
    step = {"type": "send", "subject": "Hi", "body": "Thanks {{ first_name }}"}
    flow_id = _order_flow(db, tenant, step, channel_order=["email", "sms"])
    _buy(client, db, tenant, at=datetime(2024, 2, 2, 17, 0, tzinfo=UTC))
    settle(db, datetime(2024, 2, 2, 17, 0, tzinfo=UTC))
    assert [(d["contact_id"], d["channel"], d["address"]) for d in flow_deliveries(db, flow_id)] == [
        (ann, "sms", PHONE)
    ]


def test_sms_waits_for_the_end_of_quiet_hours_in_the_org_time_zone(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    paris = ZoneInfo("Europe/Paris")
    set_org(db, tenant.organization_id, time_zone="Europe/Paris")
    _, ann = _setup(client, db, tenant, phone=PHONE, sms_opt_in=True)
    flow_id = _order_flow(db, tenant, SMS_STEP)
    late = datetime(2024, 2, 2, 22, 30, tzinfo=paris)
    _buy(client, db, tenant, at=late)
    settle(db, late.astimezone(UTC))
    assert runs(db, flow_id) == []
    morning = datetime(2024, 2, 3, 8, 0, tzinfo=paris).astimezone(UTC)
    assert enrollments(db, flow_id)[0].next_run_at == morning
    settle(db, morning - timedelta(seconds=1))
    assert flow_deliveries(db, flow_id) == []
    settle(db, morning)
    assert runs(db, flow_id) == [(ann, 0, "sent")]
    # Email is not held by quiet hours, and a custom window applies.
    set_org(db, tenant.organization_id, quiet_hours_start="13:00", quiet_hours_end="14:00")
    _buy(client, db, tenant, "o2", at=datetime(2024, 2, 4, 13, 30, tzinfo=paris))
    settle(db, datetime(2024, 2, 4, 13, 30, tzinfo=paris).astimezone(UTC))
    assert enrollments(db, flow_id)[0].state == COMPLETED  # reentry never: the second order enrolls nobody


def test_frequency_cap_defers_to_the_next_local_day(client: TestClient, db: Database, tenant: Tenant) -> None:
    set_org(db, tenant.organization_id, max_messages_per_day=1, time_zone="America/Denver")
    _, ann = _setup(client, db, tenant)
    first = _order_flow(db, tenant, EMAIL_STEP)
    second = _order_flow(db, tenant, EMAIL_STEP)
    _buy(client, db, tenant)
    settle(db, PLACED)
    assert runs(db, first) == [(ann, 0, "sent")] and runs(db, second) == []
    midnight = datetime(2024, 2, 3, 0, 0, tzinfo=ZoneInfo("America/Denver")).astimezone(UTC)
    assert enrollments(db, second)[0].next_run_at == midnight
    settle(db, midnight)
    assert runs(db, second) == [(ann, 0, "sent")]


def test_frequency_cap_drop(client: TestClient, db: Database, tenant: Tenant) -> None:
    set_org(db, tenant.organization_id, max_messages_per_day=1)
    _, ann = _setup(client, db, tenant)
    _order_flow(db, tenant, EMAIL_STEP)
    dropping = _order_flow(db, tenant, EMAIL_STEP, {"type": "tag", "add": ["Thanked"]}, over_cap="drop")
    _buy(client, db, tenant)
    settle(db, PLACED)
    assert runs(db, dropping) == [(ann, 0, "dropped_cap"), (ann, 1, "done")]
    assert [e.state for e in enrollments(db, dropping)] == [COMPLETED]
    # The organization's default says drop for flows that do not say.
    set_org(db, tenant.organization_id, over_cap="drop")
    third = _order_flow(db, tenant, EMAIL_STEP)
    _buy(client, db, tenant, "o2", at=PLACED + timedelta(hours=1))
    settle(db, PLACED + timedelta(hours=1))
    assert runs(db, third) == [(ann, 0, "dropped_cap")]
    assert flow_deliveries(db, dropping) == [] and flow_deliveries(db, third) == []


def test_exit_goal_ends_the_enrollment_before_the_next_step(client: TestClient, db: Database, tenant: Tenant) -> None:
    event_id, ann = _setup(client, db, tenant)
    add_event(client, db, tenant, external_id="upsell")
    flow_id = _order_flow(
        db,
        tenant,
        {"type": "wait", "duration": "P1D"},
        EMAIL_STEP,
        exit={"bought_event": "trigger"},
        reentry="per_trigger",
    )
    _buy(client, db, tenant)  # the trigger's own order is not the goal
    settle(db, PLACED)
    assert [e.state for e in enrollments(db, flow_id)] == [RUNNING]
    _buy(client, db, tenant, "o2", at=PLACED + timedelta(hours=2))  # bought the show again
    settle(db, PLACED + timedelta(days=1))
    states = {e.trigger_key: (e.state, e.exit_reason) for e in enrollments(db, flow_id)}
    assert states[f"order:{enrollments(db, flow_id)[0].order_id}"] == (EXITED, "goal")
    assert all(d["event_id"] == event_id for d in flow_deliveries(db, flow_id))
    assert (ann, 1, "sent") not in runs(db, flow_id)[:2]


def test_conditions_and_wait_until(client: TestClient, db: Database, tenant: Tenant) -> None:
    set_org(db, tenant.organization_id, time_zone="America/Denver")
    _, ann = _setup(client, db, tenant)
    flow_id = _order_flow(
        db,
        tenant,
        EMAIL_STEP,
        {"type": "wait", "until": "10:00"},
        {"type": "condition", "opened_previous": True, "otherwise": "skip"},
        {"type": "tag", "add": ["Opener"]},
        {"type": "condition", "segment": {"tags": ["VIP"]}, "otherwise": "exit"},
        {"type": "tag", "add": ["Never"]},
    )
    _buy(client, db, tenant)
    settle(db, PLACED)  # 05:00 in Denver: waits until 10:00 the same day
    ten = datetime(2024, 2, 2, 10, 0, tzinfo=ZoneInfo("America/Denver")).astimezone(UTC)
    assert enrollments(db, flow_id)[0].next_run_at == ten
    settle(db, ten)
    assert [r[1:] for r in runs(db, flow_id)] == [(0, "sent"), (1, "done"), (2, "failed"), (4, "failed")]
    assert (enrollments(db, flow_id)[0].state, enrollments(db, flow_id)[0].exit_reason) == (EXITED, "condition")
    with db.read() as session:
        tags = set(
            session.scalars(
                select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id).where(ContactTag.contact_id == ann)
            )
        )
    assert "Opener" not in tags and "Never" not in tags


def _event_body(**changes: object) -> dict[str, object]:
    body = fresh(EVENTS)
    body["events"][0].update(changes)
    return body


def test_moved_event_moves_pending_steps_and_cancelled_cancels(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    _, ann = _setup(client, db, tenant)
    _buy(client, db, tenant)
    flow_id = make_flow(
        db,
        tenant.organization_id,
        document(
            {"type": "before_event", "offset": "P2D"}, EMAIL_STEP, {"type": "wait", "duration": "P1D"}, EMAIL_STEP
        ),
    )
    settle(db, START - timedelta(days=2))
    assert enrollments(db, flow_id)[0].next_run_at == START - timedelta(days=1)
    moved = START + timedelta(days=7)
    post_and_apply(
        client,
        db,
        tenant,
        "events",
        _event_body(start_datetime="2024-03-09T15:30:00Z", end_datetime="2024-03-09T18:00:00Z"),
    )
    settle(db, START - timedelta(days=2))
    assert enrollments(db, flow_id)[0].next_run_at == moved - timedelta(days=1)
    settle(db, START - timedelta(days=1))  # the old time: nothing
    assert len(flow_deliveries(db, flow_id)) == 1
    post_and_apply(client, db, tenant, "events", _event_body(status="canceled", start_datetime="2024-03-09T15:30:00Z"))
    settle(db, START)
    [enrollment] = enrollments(db, flow_id)
    assert (enrollment.state, enrollment.exit_reason) == (CANCELLED, "event_cancelled")
    settle(db, moved)
    assert len(flow_deliveries(db, flow_id)) == 1 and runs(db, flow_id)[0] == (ann, 0, "sent")


def test_refund_before_the_reminder_drops_the_contact(client: TestClient, db: Database, tenant: Tenant) -> None:
    _setup(client, db, tenant)
    _buy(client, db, tenant)
    flow_id = make_flow(
        db,
        tenant.organization_id,
        document({"type": "before_event", "offset": "P1D"}, {"type": "wait", "duration": "PT2H"}, EMAIL_STEP),
    )
    settle(db, START - timedelta(days=1))
    _buy(client, db, tenant, status="refunded")
    settle(db, START - timedelta(hours=22))
    [enrollment] = enrollments(db, flow_id)
    assert (enrollment.state, enrollment.exit_reason) == (CANCELLED, "refunded")
    assert flow_deliveries(db, flow_id) == []


def test_pause_holds_and_resume_continues(client: TestClient, db: Database, tenant: Tenant) -> None:
    _, ann = _setup(client, db, tenant)
    flow_id = _order_flow(db, tenant, EMAIL_STEP, {"type": "wait", "duration": "PT1H"}, EMAIL_STEP)
    _buy(client, db, tenant)
    settle(db, PLACED)
    with db.write() as session:
        service.pause_flow(session, None, flow_id)
    settle(db, PLACED + timedelta(hours=3))
    assert [r[1] for r in runs(db, flow_id)] == [0, 1]
    with db.read() as session:
        statuses = set(session.scalars(select(Campaign.status).where(Campaign.flow_id == flow_id)))
    assert statuses == {"paused"}
    with db.write() as session:
        service.resume_flow(session, None, flow_id)
    settle(db, PLACED + timedelta(hours=3))
    assert runs(db, flow_id)[-1] == (ann, 2, "sent")
    with db.read() as session:
        assert set(session.scalars(select(Campaign.status).where(Campaign.flow_id == flow_id))) == {"sending"}


def test_simulate_lists_planned_sends_and_stores_nothing(client: TestClient, db: Database, tenant: Tenant) -> None:
    _, ann = _setup(client, db, tenant)
    _buy(client, db, tenant)
    flow_id = make_flow(
        db,
        tenant.organization_id,
        document(
            {"type": "before_event", "offset": "P1D"}, EMAIL_STEP, {"type": "wait", "duration": "PT4H"}, EMAIL_STEP
        ),
    )
    with db.write() as session:
        plan = service.simulate(session, None, flow_id, START, now=T0)
    assert [(s["contact_id"], s["step"], s["channel"], s["at"]) for s in plan["sends"]] == [
        (ann, 0, "email", (START - timedelta(days=1)).isoformat()),
        (ann, 2, "email", (START - timedelta(hours=20)).isoformat()),
    ]
    assert enrollments(db, flow_id) == [] and flow_deliveries(db, flow_id) == []
    with db.write() as session:
        assert service.simulate(session, None, flow_id, START - timedelta(days=2), now=T0)["sends"] == []


def test_editing_a_paused_flow_changes_unsent_messages_and_an_active_one_is_refused(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    import pytest

    from fanhub.errors import InvalidInput

    _setup(client, db, tenant)
    doc = document({"type": "order_placed"}, EMAIL_STEP)
    flow_id = make_flow(db, tenant.organization_id, doc)
    _buy(client, db, tenant)
    settle(db, PLACED)
    edited = document({"type": "order_placed"}, {**EMAIL_STEP, "subject": "Thank you!"})
    with db.write() as session, pytest.raises(InvalidInput, match="status"):
        service.update_flow(session, None, flow_id, edited)
    with db.write() as session:
        service.pause_flow(session, None, flow_id)
        service.update_flow(session, None, flow_id, edited)
        with pytest.raises(InvalidInput, match="trigger.type"):
            service.update_flow(session, None, flow_id, document({"type": "tag_added", "tag": "VIP"}))
    with db.read() as session:
        assert list(session.scalars(select(Campaign.subject).where(Campaign.flow_id == flow_id))) == ["Thank you!"]


def test_add_to_list_step_never_re_adds_a_person_who_left_that_list(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    _setup(client, db, tenant)
    bob = add_contact(client, db, tenant, "bob@example.com")
    with db.write() as session:
        news = create_list(session, org, "News", public=True).id
        ann = session.scalars(select(Contact.id).where(Contact.email == "ann@example.com")).one()
        list_optouts.record(session, org, ann, [news], list_optouts.PREFERENCE_CENTER, PLACED - timedelta(days=1))
    flow_id = _order_flow(db, tenant, {"type": "add_to_list", "list_id": news})
    _buy(client, db, tenant)
    post_orders(client, db, tenant, order("o2", "bob@example.com", PLACED))
    settle(db, PLACED)
    assert [e.state for e in enrollments(db, flow_id)] == [COMPLETED, COMPLETED]
    with db.read() as session:
        members = set(session.scalars(select(ContactList.contact_id).where(ContactList.list_id == news)))
    assert members == {bob}  # ann left "News" on her preference center; the flow step passed her by
