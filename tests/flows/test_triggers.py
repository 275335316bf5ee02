"""Each trigger type enrolls the right contacts once per trigger instance, never for the past unless
backfilled; the real apply path (Partners API) feeds the hooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from tests.campaigns.conftest import add_contact, add_event, order, post_orders
from tests.conftest import Tenant, post_and_apply
from tests.examples import EVENTS, fresh
from tests.flows.core_helpers import T0, document, enrollments, flow_deliveries, make_flow, set_org, settle

from fanhub.db.base import utcnow
from fanhub.db.engine import Database

START = datetime(2024, 3, 2, 15, 30, tzinfo=UTC)  # the example event's start (ends 18:00)


def _buy(
    client: TestClient, db: Database, tenant: Tenant, order_id: str, email: str, at: datetime, **extra: object
) -> None:
    post_orders(client, db, tenant, order(order_id, email, at, **extra))


def test_order_placed_enrolls_new_orders_once_and_ignores_the_past(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    add_event(client, db, tenant)
    add_contact(client, db, tenant, "ann@example.com")
    flow_id = make_flow(db, tenant.organization_id, document({"type": "order_placed"}, reentry="per_trigger"))
    _buy(client, db, tenant, "old", "ann@example.com", T0 - timedelta(days=3))  # placed before activation
    _buy(client, db, tenant, "o1", "ann@example.com", T0 + timedelta(days=1))
    # The same batch replayed (a connector re-sending it) and the order changed later: no new entry.
    _buy(client, db, tenant, "o1", "ann@example.com", T0 + timedelta(days=1))
    _buy(client, db, tenant, "o1", "ann@example.com", T0 + timedelta(days=1), total=55.0)
    rows = enrollments(db, flow_id)
    assert [(e.trigger_key.split(":")[0], e.order_id is not None) for e in rows] == [("order", True)]
    settle(db, T0 + timedelta(days=1, minutes=1))
    assert [d["status"] for d in flow_deliveries(db, flow_id)] == ["pending"]


def test_order_placed_event_filter(client: TestClient, db: Database, tenant: Tenant) -> None:
    event_id = add_event(client, db, tenant)
    add_event(client, db, tenant, external_id="other")
    add_contact(client, db, tenant, "ann@example.com")
    flow_id = make_flow(db, tenant.organization_id, document({"type": "order_placed", "event_ids": [event_id]}))
    _buy(client, db, tenant, "o-other", "ann@example.com", T0 + timedelta(days=1), event_id="other")
    assert enrollments(db, flow_id) == []
    _buy(client, db, tenant, "o1", "ann@example.com", T0 + timedelta(days=1))
    assert [e.event_id for e in enrollments(db, flow_id)] == [event_id]


def test_reentry_never_and_per_trigger(client: TestClient, db: Database, tenant: Tenant) -> None:
    add_event(client, db, tenant)
    add_contact(client, db, tenant, "ann@example.com")
    set_org(db, tenant.organization_id, max_messages_per_day=10)  # three messages the same day
    once = make_flow(db, tenant.organization_id, document({"type": "order_placed"}))
    each = make_flow(db, tenant.organization_id, document({"type": "order_placed"}, reentry="per_trigger"))
    _buy(client, db, tenant, "o1", "ann@example.com", T0 + timedelta(days=1))
    _buy(client, db, tenant, "o2", "ann@example.com", T0 + timedelta(days=2))
    assert [e.trigger_key for e in enrollments(db, once)] == [""]
    assert len(enrollments(db, each)) == 2
    settle(db, T0 + timedelta(days=3))
    # Two passes through the same step for the same show: two messages, in two rounds.
    assert sorted(d["round"] for d in flow_deliveries(db, each)) == [1, 2]
    assert len(flow_deliveries(db, once)) == 1


def test_before_event_enrolls_holders_at_the_moment(client: TestClient, db: Database, tenant: Tenant) -> None:
    event_id = add_event(client, db, tenant)
    for name in ("ann", "bob", "cy"):
        add_contact(client, db, tenant, f"{name}@example.com")
    _buy(client, db, tenant, "o1", "ann@example.com", T0 - timedelta(days=20))  # bought long before activation
    _buy(client, db, tenant, "o2", "bob@example.com", T0 + timedelta(days=1))
    _buy(client, db, tenant, "o3", "cy@example.com", T0 + timedelta(days=2), status="refunded")
    flow_id = make_flow(db, tenant.organization_id, document({"type": "before_event", "offset": "P1D"}))
    settle(db, START - timedelta(days=1, minutes=1))
    assert enrollments(db, flow_id) == []  # the moment has not come
    settle(db, START - timedelta(days=1))
    rows = enrollments(db, flow_id)
    assert len(rows) == 2 and {e.event_id for e in rows} == {event_id}  # the refunded order holds nothing
    settle(db, START - timedelta(hours=2))  # a second scan enrolls nobody twice
    assert len(enrollments(db, flow_id)) == 2
    assert len(flow_deliveries(db, flow_id)) == 2


def test_activation_after_the_moment_ignores_it_unless_backfilled(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    add_event(client, db, tenant)
    add_contact(client, db, tenant, "ann@example.com")
    _buy(client, db, tenant, "o1", "ann@example.com", T0)
    after = START + timedelta(hours=1)
    late = make_flow(db, tenant.organization_id, document({"type": "before_event", "offset": "PT6H"}), at=after)
    backfilled = make_flow(
        db,
        tenant.organization_id,
        document({"type": "before_event", "offset": "PT6H"}),
        at=after,
        backfill=START - timedelta(days=1),
    )
    settle(db, after + timedelta(minutes=5))
    assert enrollments(db, late) == []
    assert len(enrollments(db, backfilled)) == 1


def test_after_event_counts_from_the_end(client: TestClient, db: Database, tenant: Tenant) -> None:
    add_event(client, db, tenant)
    add_contact(client, db, tenant, "ann@example.com")
    _buy(client, db, tenant, "o1", "ann@example.com", T0)
    flow_id = make_flow(db, tenant.organization_id, document({"type": "after_event", "offset": "PT12H"}))
    end = START + timedelta(hours=2, minutes=30)
    settle(db, end + timedelta(hours=11, minutes=59))
    assert enrollments(db, flow_id) == []
    settle(db, end + timedelta(hours=12))
    assert len(enrollments(db, flow_id)) == 1


def test_subscribed_from_any_source_after_activation(client: TestClient, db: Database, tenant: Tenant) -> None:
    add_contact(client, db, tenant, "early@example.com")  # subscribed before the flow existed
    now = utcnow()
    flow_id = make_flow(db, tenant.organization_id, document({"type": "subscribed", "channel": "email"}), at=now)
    sms_flow = make_flow(db, tenant.organization_id, document({"type": "subscribed", "channel": "sms"}), at=now)
    ann = add_contact(client, db, tenant, "ann@example.com")
    add_contact(client, db, tenant, "nope@example.com", email_opt_in=False)
    settle(db, utcnow())
    assert [e.contact_id for e in enrollments(db, flow_id)] == [ann]
    assert enrollments(db, sms_flow) == []
    assert enrollments(db, flow_id)[0].trigger_key == ""


def test_subscribed_backfill(client: TestClient, db: Database, tenant: Tenant) -> None:
    before = utcnow()
    early = add_contact(client, db, tenant, "early@example.com")
    flow_id = make_flow(
        db,
        tenant.organization_id,
        document({"type": "subscribed", "channel": "email"}),
        at=utcnow(),
        backfill=before - timedelta(seconds=1),
    )
    settle(db, utcnow())
    assert [e.contact_id for e in enrollments(db, flow_id)] == [early]


def test_tag_added_and_list_joined(client: TestClient, db: Database, tenant: Tenant) -> None:
    from fanhub.audience.service import create_list, create_tag

    with db.write() as session:
        list_id = create_list(session, tenant.organization_id, "Newsletter").id
        create_tag(session, tenant.organization_id, "VIP")
        create_tag(session, tenant.organization_id, "Other")
    add_contact(client, db, tenant, "before@example.com", tags=["VIP"])
    tag_flow = make_flow(db, tenant.organization_id, document({"type": "tag_added", "tag": "VIP"}), at=utcnow())
    list_flow = make_flow(
        db, tenant.organization_id, document({"type": "list_joined", "list_id": list_id}), at=utcnow()
    )
    ann = add_contact(client, db, tenant, "ann@example.com", tags=["VIP", "Other"])
    bob = add_contact(client, db, tenant, "bob@example.com", list_id=list_id)
    add_contact(client, db, tenant, "before@example.com", tags=["VIP"])  # already tagged: not added again
    assert [e.contact_id for e in enrollments(db, tag_flow)] == [ann]
    assert [e.contact_id for e in enrollments(db, list_flow)] == [bob]


def test_a_flow_tag_step_triggers_tag_added_flows(client: TestClient, db: Database, tenant: Tenant) -> None:
    add_event(client, db, tenant)
    ann = add_contact(client, db, tenant, "ann@example.com")
    make_flow(db, tenant.organization_id, document({"type": "order_placed"}, {"type": "tag", "add": ["Buyer"]}))
    buyers = make_flow(db, tenant.organization_id, document({"type": "tag_added", "tag": "Buyer"}))
    _buy(client, db, tenant, "o1", "ann@example.com", T0 + timedelta(days=1))
    settle(db, T0 + timedelta(days=1, minutes=1))
    assert [e.contact_id for e in enrollments(db, buyers)] == [ann]


def test_event_announced_matches_genres_and_interests(client: TestClient, db: Database, tenant: Tenant) -> None:
    add_event(client, db, tenant)  # "The Head & The Heart", tags Folk
    folk = add_contact(client, db, tenant, "folk@example.com", genres=["Folk"])
    fan = add_contact(client, db, tenant, "fan@example.com", interested_in="12345")
    add_contact(client, db, tenant, "rock@example.com", genres=["Rock"])
    now = utcnow()
    genres = make_flow(db, tenant.organization_id, document({"type": "event_announced", "match": "genres"}), at=now)
    both = make_flow(db, tenant.organization_id, document({"type": "event_announced", "match": "both"}), at=now)
    body = fresh(EVENTS)
    event = body["events"][0]
    event["id"], event["name"] = "second", "The Head & The Heart, again"
    event["start_datetime"] = (now + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    event["end_datetime"] = (now + timedelta(days=30, hours=3)).isoformat().replace("+00:00", "Z")
    post_and_apply(client, db, tenant, "events", body)
    settle(db, utcnow())
    assert {e.contact_id for e in enrollments(db, genres)} == {folk}
    assert {e.contact_id for e in enrollments(db, both)} == {folk, fan}
    settle(db, utcnow())  # announced once
    assert len(enrollments(db, both)) == 2
