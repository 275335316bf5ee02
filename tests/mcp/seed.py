"""Seed data for the MCP tests, with the expected figures worked out by hand below.

Organization A ("Belly Up"):

- E1 "The Head & The Heart" from the Partners API (source partner:acme), 2024-03-02T15:30Z,
  ticket types GA (40.00) and VIP (100.00). Orders (partner:acme):
    A1 john   GA x2 = 80.00   2024-02-01T10:00Z completed (email + SMS opt-in)
    A2 mary   VIP x1 = 100.00 + GA x1 = 40.00   2024-02-01T18:00Z completed (email opt-in false)
    A3 bob    GA x3 = 120.00  2024-02-02T09:00Z refunded
    A4 john   GA x1 = 40.00   2024-02-03T12:00Z completed, partial refund 10.00
    A5 carl   GA x5 = 200.00  2024-02-03T13:00Z canceled
  tickets sold 2+2+1 = 5; gross 80+140+120+40 = 380; refunds 120+10 = 130; net 250;
  orders 4 (canceled ignored), 1 refunded; attendees john, mary = 2.
- E2 "Jazz Night" from Eventbrite (source eventbrite:1), 2024-04-10T02:00Z, "General" 25.00:
    B1 JOHN@example.com (same contact as john)  General x2 = 50.00  2024-02-02T20:00Z completed
    B2 zoe    General x4 = 100.00  2024-03-15T12:00Z completed
  tickets 6; gross 150; refunds 0; net 150; attendees john, zoe = 2.
- E3 "Comedy Hour" from Eventbrite, 2024-05-01T01:00Z, canceled, no orders.
- Contacts: john, mary, bob, carl, zoe (5); john is subscribed to email and SMS, nobody else is.
- Tag "VIP" exists (nobody has it yet).

Organization B ("Other Venue"): event X1 and its buyer olga, which A must never see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import Tenant, drain, make_tenant, post_and_apply

from fanhub.audience.models import Contact
from fanhub.audience.service import create_tag
from fanhub.auth.service import create_key
from fanhub.catalog.models import Event
from fanhub.db.engine import Database
from fanhub.ingest.records import EventBatch, OrderBatch
from fanhub.ingest.service import enqueue_batch


@dataclass
class Seeded:
    org_a: int
    org_b: int
    partner_token: str
    read_token: str
    read_key_id: int
    write_token: str
    write_key_id: int
    other_org_token: str
    e1: int
    e2: int
    e3: int
    x1: int
    john: int
    mary: int
    bob: int
    carl: int
    zoe: int
    olga: int


def _item(name: str, qty: int, total: float) -> dict[str, Any]:
    return {"ticket_type_name": name, "quantity": qty, "total_price": total, "currency_code": "USD"}


def _order(oid: str, event: str, email: str, items: list[dict[str, Any]], created: str, **extra: Any) -> dict[str, Any]:
    opt_ins = extra.pop("opt_ins", {"email": None, "sms": None})
    customer = {"email": email, **extra.pop("customer", {})}
    return {
        "id": oid,
        "event_id": event,
        "customer": customer,
        "marketing_opt_ins": opt_ins,
        "items": items,
        "created_at": created,
        **extra,
    }


def _enqueue(db: Database, org: int, source: str, kind: str, body: dict[str, Any]) -> None:
    model = EventBatch if kind == "events" else OrderBatch
    batch = model.model_validate(body)
    with db.write() as session:
        enqueue_batch(session, org, source, kind, batch.model_dump_json(), len(body[kind]))
    drain(db)


def seed(client: TestClient, db: Database) -> Seeded:
    a = make_tenant(db, "Belly Up", partner="acme")
    b = make_tenant(db, "Other Venue", partner="other")
    post_and_apply(
        client,
        db,
        a,
        "events",
        {
            "events": [
                {
                    "id": "hh-1",
                    "url": "https://example.com/hh",
                    "image_url": "https://example.com/hh.jpg",
                    "name": "The Head & The Heart",
                    "status": "live",
                    "start_datetime": "2024-03-02T15:30:00Z",
                    "location": {"name": "Belly Up Aspen", "address": "450 S Galena St"},
                    "ticket_types": [
                        {"name": "GA", "prefee_price": 30, "total_price": 40, "currency_code": "USD", "quantity": 150},
                        {"name": "VIP", "prefee_price": 80, "total_price": 100, "currency_code": "USD", "quantity": 20},
                    ],
                }
            ]
        },
    )
    john = {"phone": "+19594746360", "first_name": "John", "last_name": "Smith"}
    post_and_apply(
        client,
        db,
        a,
        "orders",
        {
            "orders": [
                _order(
                    "A1",
                    "hh-1",
                    "john@example.com",
                    [_item("GA", 2, 80)],
                    "2024-02-01T10:00:00Z",
                    customer=john,
                    opt_ins={"email": True, "sms": True},
                ),
                _order(
                    "A2",
                    "hh-1",
                    "mary@example.com",
                    [_item("VIP", 1, 100), _item("GA", 1, 40)],
                    "2024-02-01T18:00:00Z",
                    customer={"first_name": "Mary", "last_name": "Jones"},
                    opt_ins={"email": False, "sms": None},
                ),
                _order(
                    "A3", "hh-1", "bob@example.com", [_item("GA", 3, 120)], "2024-02-02T09:00:00Z", status="refunded"
                ),
                _order(
                    "A4", "hh-1", "john@example.com", [_item("GA", 1, 40)], "2024-02-03T12:00:00Z", refunded_amount=10
                ),
                _order(
                    "A5", "hh-1", "carl@example.com", [_item("GA", 5, 200)], "2024-02-03T13:00:00Z", status="canceled"
                ),
            ]
        },
    )
    venue = {"name": "Belly Up Aspen"}
    _enqueue(
        db,
        a.organization_id,
        "eventbrite:1",
        "events",
        {
            "events": [
                {
                    "id": "eb-77",
                    "name": "Jazz Night",
                    "start_datetime": "2024-04-10T02:00:00Z",
                    "location": venue,
                    "ticket_types": [{"name": "General", "prefee_price": 20, "total_price": 25}],
                },
                {
                    "id": "eb-78",
                    "name": "Comedy Hour",
                    "status": "canceled",
                    "start_datetime": "2024-05-01T01:00:00Z",
                    "location": venue,
                },
            ]
        },
    )
    _enqueue(
        db,
        a.organization_id,
        "eventbrite:1",
        "orders",
        {
            "orders": [
                _order("B1", "eb-77", "JOHN@example.com", [_item("General", 2, 50)], "2024-02-02T20:00:00Z"),
                _order("B2", "eb-77", "zoe@example.com", [_item("General", 4, 100)], "2024-03-15T12:00:00Z"),
            ]
        },
    )
    _enqueue(
        db,
        b.organization_id,
        "partner:other",
        "events",
        {"events": [{"id": "x-1", "name": "Secret Show", "start_datetime": "2024-03-05T20:00:00Z", "location": venue}]},
    )
    _enqueue(
        db,
        b.organization_id,
        "partner:other",
        "orders",
        {"orders": [_order("X1", "x-1", "olga@example.com", [_item("GA", 1, 30)], "2024-02-10T10:00:00Z")]},
    )
    with db.write() as session:
        create_tag(session, a.organization_id, "VIP")
        read_key, read_token = create_key(session, a.organization_id, "assistant", "mcp:read")
        write_key, write_token = create_key(session, a.organization_id, "assistant", "mcp:write")
        _, other_token = create_key(session, b.organization_id, "assistant", "mcp:read")
        events = {e.external_id: e.id for e in session.scalars(select(Event))}
        contacts = {c.email: c.id for c in session.scalars(select(Contact))}
    return Seeded(
        org_a=a.organization_id,
        org_b=b.organization_id,
        partner_token=a.token,
        read_token=read_token,
        read_key_id=read_key.id,
        write_token=write_token,
        write_key_id=write_key.id,
        other_org_token=other_token,
        e1=events["hh-1"],
        e2=events["eb-77"],
        e3=events["eb-78"],
        x1=events["x-1"],
        john=contacts["john@example.com"],
        mary=contacts["mary@example.com"],
        bob=contacts["bob@example.com"],
        carl=contacts["carl@example.com"],
        zoe=contacts["zoe@example.com"],
        olga=contacts["olga@example.com"],
    )


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


__all__ = ["Seeded", "Tenant", "dumps", "seed"]
