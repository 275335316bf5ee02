"""Demo data for browser tests and screenshots: events, orders over several days, consent history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fanhub.db.engine import Database
from fanhub.ingest.records import ContactBatch, EventBatch, OrderBatch
from fanhub.ingest.service import drain, enqueue_batch

FIRST = ["Ann", "Bo", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia", "Oz"]
LAST = ["Lee", "Park", "Diaz", "Novak", "Berg", "Silva", "Okafor", "Ito", "Moreau", "Khan"]


def seed(db: Database, organization_id: int, contacts: int = 120, seed_value: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed_value)
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for i, (name, days) in enumerate(
        [("The Head & The Heart", 12), ("Night Drive <Live>", 20), ("Jazz Brunch", 33), ("Folk Festival", 45)]
    ):
        start = now + timedelta(days=days)
        events.append(
            {
                "id": f"ev{i}",
                "name": name,
                "url": f"https://venue.example/ev{i}",
                "status": "live",
                "start_datetime": start.isoformat(),
                "location": {"name": "Belly Up Aspen", "address": "450 S Galena St"},
                "ticket_types": [{"name": "GA", "total_price": 40.0, "prefee_price": 35.0, "currency_code": "USD"}],
            }
        )
    records = []
    for i in range(contacts):
        days_ago = rnd.randint(0, 29)
        email_opt = rnd.random() < 0.8
        records.append(
            {
                "contact": {
                    "email": f"fan{i}@example.com",
                    "phone": f"+1415555{i:04d}" if i % 3 == 0 else None,
                    "first_name": rnd.choice(FIRST),
                    "last_name": rnd.choice(LAST),
                },
                "opt_ins": {"email": email_opt, "sms": True if i % 3 == 0 else None},
                "via": "contact.opt_ins",
                "observed_at": (now - timedelta(days=days_ago, hours=rnd.randint(0, 20))).isoformat(),
            }
        )
    orders = []
    for i in range(90):
        buyer = rnd.randrange(contacts)
        qty = rnd.randint(1, 4)
        orders.append(
            {
                "id": f"o{i}",
                "event_id": f"ev{rnd.randrange(2)}",
                "customer": {"email": f"fan{buyer}@example.com"},
                "marketing_opt_ins": {"email": None, "sms": None},
                "items": [
                    {"ticket_type_name": "GA", "quantity": qty, "total_price": 40.0 * qty, "currency_code": "USD"}
                ],
                "created_at": (now - timedelta(days=rnd.randint(0, 13), hours=rnd.randint(0, 20))).isoformat(),
            }
        )
    with db.write() as session:
        enqueue_batch(
            session,
            organization_id,
            "partner:demo",
            "events",
            EventBatch.model_validate({"events": events}).model_dump_json(),
            len(events),
        )
        enqueue_batch(
            session,
            organization_id,
            "partner:demo",
            "contacts",
            ContactBatch.model_validate({"contacts": records}).model_dump_json(),
            len(records),
        )
        enqueue_batch(
            session,
            organization_id,
            "partner:demo",
            "orders",
            OrderBatch.model_validate({"orders": orders}).model_dump_json(),
            len(orders),
        )
    drain(db)
    return {"events": len(events), "contacts": contacts, "orders": len(orders)}
