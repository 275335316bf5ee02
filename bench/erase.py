"""Erasure benchmark: erase one contact among 1,000,000 (target < 1 s).

    uv run python bench/erase.py [--contacts 1000000] [--erasures 20] [--url sqlite:///path.db]

Builds a migrated database (SQLite in a temp folder unless `--url`) with one organization and
`--contacts` contacts, each with a source record and a consent ledger entry; every fifth contact has
an order and a delivery of one of three sent campaigns; the contacts to be erased have more:
two orders with buyer fields, a delivery of each campaign with an open and a click (IP and user
agent), a bounce, a tag, a list, a genre and an interest. Then `--erasures` of them are erased one
at a time, each as `fanhub contact erase ID` does it (one committed write transaction around
`privacy.service.erase_request`), and once more through the real CLI in a subprocess (process
start and the migration check included), beside `fanhub audit` in a subprocess (the same start,
imports and migration check around a one-row read: the CLI's floor). The last line is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table

CHUNK = 10_000


def _table(model: Any) -> Table:
    """A model's Core table: multi-row inserts without the ORM's per-row bookkeeping."""
    return cast(Table, model.__table__)


def build(url: str, contacts: int, targets: list[int]) -> None:
    from sqlalchemy import insert

    from fanhub.audience.models import (
        AudienceList,
        ConsentEvent,
        Contact,
        ContactGenre,
        ContactInterest,
        ContactList,
        ContactSource,
        ContactTag,
        Tag,
    )
    from fanhub.campaigns.models import Campaign, CampaignLink, CampaignStats, Click, Delivery, Open
    from fanhub.catalog.models import Order
    from fanhub.db.engine import Database
    from fanhub.db.migrate import upgrade
    from fanhub.deliverability.models import Bounce
    from fanhub.organizations.models import Organization

    upgrade(url)
    database = Database(url, sqlite_synchronous="OFF")
    now = datetime.now(UTC)
    with database.write() as session:
        session.execute(insert(Organization).values(id=1, name="Bench", created_at=now))
        for cid in (1, 2, 3):
            session.execute(
                insert(Campaign).values(id=cid, organization_id=1, type="email", name=f"C{cid}", status="sent")
            )
            session.execute(insert(CampaignStats).values(campaign_id=cid, organization_id=1))
            session.execute(insert(CampaignLink).values(id=cid, campaign_id=cid, url="https://venue.example/"))
        session.execute(insert(Tag).values(id=1, organization_id=1, name="VIP"))
        session.execute(insert(AudienceList).values(id=1, organization_id=1, name="News"))
    for start in range(1, contacts + 1, CHUNK):
        ids = range(start, min(start + CHUNK, contacts + 1))
        with database.write(replayable=True) as session:
            session.execute(
                insert(_table(Contact)),
                [
                    {
                        "id": i,
                        "organization_id": 1,
                        "email": f"fan{i}@example.com",
                        "phone": f"+1970{i:07d}",
                        "first_name": f"First{i}",
                        "last_name": f"Last{i}",
                        "email_status": "subscribed",
                        "email_status_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(_table(ContactSource)),
                [
                    {"organization_id": 1, "contact_id": i, "source": "partner:acme", "email": f"fan{i}@example.com"}
                    for i in ids
                ],
            )
            session.execute(
                insert(_table(ConsentEvent)),
                [
                    {
                        "organization_id": 1,
                        "contact_id": i,
                        "channel": "email",
                        "status": "subscribed",
                        "subscribed": True,
                        "source": "partner:acme",
                        "via": "contact.opt_ins",
                        "raw_value": "true",
                        "occurred_at": now,
                        "recorded_at": now,
                    }
                    for i in ids
                ],
            )
            buyers = [i for i in ids if i % 5 == 0]
            session.execute(
                insert(_table(Order)),
                [
                    {
                        "organization_id": 1,
                        "source": "partner:acme",
                        "external_id": f"O{i}",
                        "event_external_id": "E1",
                        "contact_id": i,
                        "total_cents": 4000,
                        "tickets": 1,
                        "customer": {"email": f"fan{i}@example.com"},
                        "placed_at": now,
                    }
                    for i in buyers
                ],
            )
            session.execute(
                insert(_table(Delivery)),
                [
                    {
                        "organization_id": 1,
                        "campaign_id": 1 + i % 3,
                        "contact_id": i,
                        "channel": "email",
                        "address": f"fan{i}@example.com",
                        "status": "sent",
                        "sent_at": now,
                    }
                    for i in buyers
                ],
            )
    with database.write() as session:
        for n, i in enumerate(targets):
            email = f"fan{i}@example.com"
            customer = {"email": email, "first_name": f"First{i}", "address": "1 Main St"}
            session.execute(
                insert(_table(Order)),
                [
                    {
                        "organization_id": 1,
                        "source": "partner:box",
                        "external_id": f"T{i}-{k}",
                        "event_external_id": "E1",
                        "contact_id": i,
                        "total_cents": 6000,
                        "tickets": 2,
                        "customer": customer,
                        "placed_at": now,
                    }
                    for k in (1, 2)
                ],
            )
            for cid in (1, 2, 3):
                if i % 5 == 0 and 1 + i % 3 == cid:
                    continue  # already has this campaign's delivery
                session.execute(
                    insert(Delivery).values(
                        organization_id=1,
                        campaign_id=cid,
                        contact_id=i,
                        channel="email",
                        address=email,
                        status="sent",
                        sent_at=now,
                    )
                )
            delivery_ids = session.scalars(
                Delivery.__table__.select().with_only_columns(Delivery.id).where(Delivery.contact_id == i)
            ).all()
            for d in delivery_ids:
                agent = {"user_agent": "Mozilla/5.0 Bench", "ip_address": "203.0.113.9", "occurred_at": now}
                session.execute(insert(Open).values(delivery_id=d, campaign_id=1, **agent))
                session.execute(insert(Click).values(delivery_id=d, campaign_id=1, link_id=1, **agent))
            session.execute(
                insert(Bounce).values(
                    organization_id=1,
                    address=email,
                    kind="soft",
                    reason="mailbox_full",
                    source="dsn",
                    matched_by="address",
                    replay_key=f"bench:{n}",
                )
            )
            session.execute(insert(ContactTag).values(contact_id=i, tag_id=1))
            session.execute(insert(ContactList).values(contact_id=i, list_id=1))
            session.execute(insert(ContactGenre).values(contact_id=i, genre="Rock"))
            session.execute(insert(ContactInterest).values(organization_id=1, contact_id=i, source="partner:acme"))
    if url.startswith("postgresql"):
        from sqlalchemy import text

        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    database.dispose()


def erase_timings(url: str, targets: list[int]) -> tuple[list[float], dict[str, int]]:
    from fanhub.db.engine import Database
    from fanhub.privacy.service import erase_request

    database = Database(url)
    timings: list[float] = []
    counts: dict[str, int] = {}
    for contact_id in targets:
        started = time.perf_counter()
        with database.write() as session:
            counts = erase_request(session, 1, "cli", contact_id=contact_id)["erased"]
        timings.append(time.perf_counter() - started)
    database.dispose()
    return timings, counts


def cli(url: str, *args: str) -> tuple[float, dict[str, Any]]:
    """Wall time of one `fanhub ... --json` process and what it printed."""
    env = {**os.environ, "FANHUB_DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "fanhub", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--erasures", type=int, default=20)
    parser.add_argument("--url", help="database URL (default: SQLite in a temp folder)")
    args = parser.parse_args()
    os.environ.setdefault("FANHUB_SECRET_KEY", "bench-secret")
    workdir = Path(tempfile.mkdtemp(prefix="fanhub-erase-"))
    url = args.url or f"sqlite:///{workdir / 'bench.db'}"
    step = max(1, args.contacts // (args.erasures + 2))
    targets = [step * (n + 1) for n in range(args.erasures + 1)]
    started = time.perf_counter()
    build(url, args.contacts, targets)
    build_s = time.perf_counter() - started
    timings, counts = erase_timings(url, targets[:-1])
    # The same process start, imports and migration check, doing a one-row read: the CLI's floor.
    baseline_s, _ = cli(url, "audit", "--org", "1")
    cli_s, cli_result = cli(url, "contact", "erase", str(targets[-1]), "--org", "1")
    assert cli_result["erased"]["contacts"] == 1, cli_result
    ordered = sorted(timings)
    result = {
        "bench": "erase",
        "database": url.split(":", 1)[0],
        "contacts": args.contacts,
        "erasures": len(timings),
        "build_s": round(build_s, 1),
        "erase_median_s": round(statistics.median(timings), 4),
        "erase_max_s": round(ordered[-1], 4),
        "erased_rows_per_contact": counts,
        "cli_wall_s": round(cli_s, 3),
        "cli_baseline_s": round(baseline_s, 3),
        "target_s": 1.0,
        "ok": ordered[-1] < 1.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
