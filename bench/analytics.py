"""Benchmark: p95 latency of GET /v1/partners/campaigns/analytics over HTTP with a large history.

    uv run python bench/analytics.py [--orders 1000000] [--deliveries 1000000] [--campaigns 200]

Synthetic rows (contacts, orders, campaigns with their counters, deliveries, opens, clicks and
attributions) are inserted directly with executemany for setup speed; the API then runs in
uvicorn on 127.0.0.1 and is called over real HTTP with keep-alive. The analytics endpoint reads
the pre-aggregated `campaign_stats` rows, so its latency should not depend on how many deliveries
or orders exist. Reported beside it, measured in the same run: p95 of `/healthz` (a trivial
endpoint through the same stack) and of the per-campaign detail endpoint. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fanhub-bench-analytics-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    os.environ.update({"FANHUB_DATABASE_URL": url, "FANHUB_SECRET_KEY": "bench-secret"})

    import httpx
    import uvicorn
    from sqlalchemy import insert

    from fanhub.app import create_app
    from fanhub.audience.models import Contact
    from fanhub.auth.service import create_key
    from fanhub.campaigns.models import Attribution, Campaign, CampaignStats, Delivery, Open
    from fanhub.catalog.models import Order
    from fanhub.config import get_settings
    from fanhub.db.engine import get_database
    from fanhub.db.migrate import upgrade
    from fanhub.organizations.service import create_organization

    get_settings.cache_clear()
    upgrade(url)
    database = get_database()
    rng = random.Random(5)
    started = time.perf_counter()
    n_contacts = max(1, args.orders // 4)
    base = datetime(2025, 1, 1, tzinfo=UTC)

    def bulk(model: Any, rows: Any, chunk: int = 20_000) -> None:
        batch: list[dict[str, Any]] = []
        with database.engine.begin() as conn:
            for row in rows:
                batch.append(row)
                if len(batch) >= chunk:
                    conn.execute(insert(model), batch)
                    batch = []
            if batch:
                conn.execute(insert(model), batch)

    with database.write() as session:
        org = create_organization(session, "Bench venue").id
        _, token = create_key(session, org, "bench")
        # A second organization, so queries must filter and not just read everything.
        other = create_organization(session, "Other venue").id
    now = datetime.now(UTC)
    bulk(
        Contact,
        (
            {
                "organization_id": org if i % 10 else other,
                "email": f"fan{i}@example.com",
                "email_status": "subscribed",
                "sms_status": "unknown",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n_contacts)
        ),
    )
    bulk(
        Campaign,
        (
            {
                "organization_id": org if c % 10 else other,
                "type": "email" if c % 3 else "sms",
                "name": f"Campaign {c}",
                "subject": f"Subject {c}",
                "body": "Hi {{ first_name }}",
                "audience": {},
                "status": "sent",
                "delivered_at": base + timedelta(days=c),
                "created_at": base + timedelta(days=c),
            }
            for c in range(args.campaigns)
        ),
    )
    campaign_ids = list(range(1, args.campaigns + 1))
    per_campaign = max(1, args.deliveries // args.campaigns)
    bulk(
        CampaignStats,
        (
            {
                "campaign_id": cid,
                "organization_id": org if (cid - 1) % 10 else other,
                "recipients": per_campaign,
                "delivered": per_campaign,
                "opens": per_campaign // 3,
                "clickers": per_campaign // 10,
                "unsubscribes": per_campaign // 200,
                "undelivered": per_campaign // 100,
                "attributed_orders": 50,
                "attributed_tickets": 90,
                "attributed_revenue": 450_000,
            }
            for cid in campaign_ids
        ),
    )
    bulk(
        Delivery,
        (
            {
                "organization_id": org,
                "campaign_id": campaign_ids[d // per_campaign % len(campaign_ids)],
                "contact_id": 1 + (d * 7919) % n_contacts,
                "channel": "email",
                "address": "x@example.com",
                "status": "sent",
                "attempts": 1,
                "sent_at": base + timedelta(days=d // per_campaign, seconds=d % per_campaign),
                "opened_at": base + timedelta(days=d // per_campaign, hours=2) if d % 3 == 0 else None,
                "clicked_at": base + timedelta(days=d // per_campaign, hours=3) if d % 10 == 0 else None,
            }
            for d in range(args.deliveries)
        ),
    )
    bulk(
        Open,
        (
            {
                "delivery_id": 1 + d,
                "campaign_id": campaign_ids[d // per_campaign % len(campaign_ids)],
                "occurred_at": base + timedelta(days=d // per_campaign, hours=2),
                "machine": False,
            }
            for d in range(0, args.deliveries, 3)
        ),
    )
    bulk(
        Order,
        (
            {
                "organization_id": org,
                "source": "partner:bench",
                "external_id": str(o),
                "event_external_id": "e1",
                "contact_id": 1 + rng.randrange(n_contacts),
                "status": "completed",
                "currency": "USD",
                "prefee_cents": 4000,
                "total_cents": 5000,
                "refunded_cents": 0,
                "tickets": 2,
                "customer": {},
                "placed_at": base + timedelta(minutes=o),
                "record_hash": "",
                "created_at": now,
                "updated_at": now,
            }
            for o in range(args.orders)
        ),
    )
    attributed = min(args.orders, 50 * len(campaign_ids))
    bulk(
        Attribution,
        (
            {
                "organization_id": org,
                "order_id": 1 + a,
                "campaign_id": campaign_ids[a % len(campaign_ids)],
                "delivery_id": 1 + a,
                "contact_id": 1,
                "channel": "email",
                "rule": "email_open",
                "window_days": 10,
                "delivered_at": base,
                "touch_at": base,
                "placed_at": base + timedelta(days=a % 100),
                "tickets": 2,
                "revenue_cents": 5000,
                "currency": "USD",
                "created_at": now,
                "updated_at": now,
            }
            for a in range(attributed)
        ),
    )
    if not database.is_sqlite:
        from sqlalchemy import text

        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    setup_seconds = time.perf_counter() - started
    print(f"setup: {setup_seconds:.1f} s", file=sys.stderr)

    app = create_app(get_settings(), database=database, run_worker=False)
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    headers = {"Cymbal-Partner-API-Key": token}
    results: dict[str, list[float]] = {"analytics": [], "healthz": [], "detail": []}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            org_campaigns = [cid for cid in campaign_ids if (cid - 1) % 10]
            for _ in range(20):  # warm-up
                client.get("/v1/partners/campaigns/analytics").raise_for_status()
                client.get("/healthz").raise_for_status()
            for i in range(args.requests):
                # Rounds interleave the endpoints so background load falls on all alike.
                params: dict[str, Any] = {"page": 1 + i % 5, "per_page": (10, 25, 100)[i % 3]}
                if i % 2:
                    params["type"] = ("email", "sms")[i % 4 // 2]
                t = time.perf_counter()
                response = client.get("/v1/partners/campaigns/analytics", params=params)
                results["analytics"].append(time.perf_counter() - t)
                assert response.status_code == 200, response.text
                t = time.perf_counter()
                client.get("/healthz").raise_for_status()
                results["healthz"].append(time.perf_counter() - t)
                t = time.perf_counter()
                client.get(
                    f"/v1/partners/campaigns/{org_campaigns[i % len(org_campaigns)]}/analytics"
                ).raise_for_status()
                results["detail"].append(time.perf_counter() - t)
            first = client.get("/v1/partners/campaigns/analytics", params={"per_page": 1}).json()["response"][0]
            assert first["num_recipients"] == per_campaign, first
    finally:
        server.should_exit = True
        thread.join(10)
    figures = {
        "analytics_p95_ms": round(_p95(results["analytics"]), 2),
        "analytics_median_ms": round(statistics.median(results["analytics"]) * 1000, 2),
        "healthz_p95_ms": round(_p95(results["healthz"]), 2),
        "campaign_detail_p95_ms": round(_p95(results["detail"]), 2),
        "orders": args.orders,
        "deliveries": args.deliveries,
        "campaigns": args.campaigns,
        "requests": args.requests,
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
    }
    database.dispose()
    if not args.database_url:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
