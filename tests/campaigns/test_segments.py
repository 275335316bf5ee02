"""Audience segments (keys AND, values OR, channel consent) and campaign validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience.segments import count_audience, segment_query, validate_segment
from fanhub.audience.service import create_list, create_tag
from fanhub.campaigns.service import create_campaign
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput
from tests.campaigns.conftest import add_contact, add_event, order, post_orders
from tests.conftest import Tenant, make_tenant


def _ids(db: Database, org: int, segment: dict[str, object], channel: str = "email") -> set[int]:
    with db.read() as session:
        return set(session.scalars(segment_query(org, segment, channel)))


def test_segment_filters(client: TestClient, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    with db.write() as session:
        for name in ("VIP", "Local"):
            create_tag(session, org, name)
        members = create_list(session, org, "Members").id
    event_id = add_event(client, db, tenant, "12345")
    other_event = add_event(client, db, tenant, "777")
    a = add_contact(client, db, tenant, "a@example.com", "+19705550301", tags=["VIP"], genres=["Rock"], sms_opt_in=True)
    b = add_contact(client, db, tenant, "b@example.com", tags=["Local"], list_id=members)
    c = add_contact(client, db, tenant, "c@example.com", tags=["VIP", "Local"], genres=["Dance/Electronic"])
    d = add_contact(client, db, tenant, "d@example.com", interested_in="777")
    e = add_contact(client, db, tenant, "e@example.com", tags=["VIP"], email_opt_in=False)  # opted out
    add_contact(client, db, tenant, phone="+19705550302", sms_opt_in=False)
    post_orders(
        client,
        db,
        tenant,
        order("o1", "b@example.com", datetime(2026, 1, 1, tzinfo=UTC)),
        order("o2", "c@example.com", datetime(2026, 1, 1, tzinfo=UTC), status="canceled"),
    )
    # Another organization's VIPs never leak in.
    other = make_tenant(db, "Other venue", "other")
    with db.write() as session:
        create_tag(session, other.organization_id, "VIP")

    assert _ids(db, org, {}) == {a, b, c, d}  # everyone subscribed by email; e opted out
    assert _ids(db, org, {}, "sms") == {a}
    assert _ids(db, org, {"tags": ["VIP"]}) == {a, c}
    assert _ids(db, org, {"tags": ["VIP", "Local"]}) == {a, b, c}  # OR within a key
    assert _ids(db, org, {"tags": ["VIP"], "genres": ["Dance/Electronic"]}) == {c}  # AND across keys
    assert _ids(db, org, {"list_ids": [members]}) == {b}
    assert _ids(db, org, {"bought_event_ids": [event_id]}) == {b}  # c's order was canceled
    assert _ids(db, org, {"interested_event_ids": [other_event]}) == {d}
    assert _ids(db, org, {"tags": []}) == {a, b, c, d}  # an empty list means everyone
    with db.read() as session:
        assert count_audience(session, org, {"tags": ["VIP"]}) == {"email": 2, "sms": 1}
        assert count_audience(session, other.organization_id, {}) == {"email": 0, "sms": 0}
    assert e not in _ids(db, org, {"tags": ["VIP"]})


@pytest.mark.parametrize(
    ("segment", "field"),
    [
        ({"tag": ["VIP"]}, "audience.tag"),
        ({"tags": "VIP"}, "audience.tags"),
        ({"list_ids": ["1"]}, "audience.list_ids[0]"),
        ({"bought_event_ids": [True]}, "audience.bought_event_ids[0]"),
        ({"genres": [""]}, "audience.genres[0]"),
        (["tags"], "audience"),
    ],
)
def test_segment_validation_names_the_key(segment: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_segment(segment)
    assert caught.value.errors[0]["field"] == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "fax"}, "type"),
        ({"name": " "}, "name"),
        ({"subject": None}, "subject"),
        ({"body": ""}, "body"),
        ({"body": "Hi {{ frist_name }}"}, "body"),
        ({"body": "{% for x in %}"}, "body"),
        ({"subject": "{{ ''.__class__.__mro__ }}"}, "subject"),
        ({"audience": {"colour": ["red"]}}, "audience.colour"),
        ({"event_id": 999999}, "event_id"),
    ],
)
def test_campaign_validation(db: Database, tenant: Tenant, changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"type": "email", "name": "N", "subject": "S", "body": "Hi {{ first_name }}"} | changes
    with db.write() as session, pytest.raises(InvalidInput) as caught:
        create_campaign(session, tenant.organization_id, **values)  # type: ignore[arg-type]
    assert caught.value.errors[0]["field"] == field
    with db.read() as session:
        from fanhub.campaigns.models import Campaign

        assert session.scalars(select(Campaign)).first() is None
