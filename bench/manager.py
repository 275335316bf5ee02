"""Manager benchmark: page latency on a large organization, and CSV import throughput.

1. Builds an organization with N contacts (default 1,000,000; 10% tagged, a consent ledger over
   the last 30 days) and 200 delivered campaigns, then times full HTTP requests through the real
   app (session, CSRF-free GETs, template rendering) for: the contacts table (first page and a
   keyset page), a filtered count (tag AND email state), and the dashboard. p50 / p95 over runs.
2. Imports a generated CSV of R rows (default 100,000) through the import path (upload, mapping,
   worker steps that enqueue ingest batches, the ingest apply) and reports rows/s end to end.

    uv run python bench/manager.py [--contacts 1000000] [--import-rows 100000] [--runs 20]
                                   [--database-url URL]

Bulk data is inserted with plain SQL (building a million contacts through the apply path would
be a benchmark of its own). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def build_org(database: Any, contacts: int, campaigns: int) -> tuple[int, int]:
    """Insert the large organization directly; returns (organization id, tag id)."""
    from sqlalchemy import text

    from fanhub.audience.models import Tag
    from fanhub.campaigns.models import Campaign, CampaignStats
    from fanhub.organizations.service import create_organization

    rnd = random.Random(5)
    now = datetime.now(UTC)
    with database.write() as session:
        org = create_organization(session, "Big Venue").id
        tag = Tag(organization_id=org, name="VIP")
        session.add(tag)
        session.flush()
        tag_id = tag.id
    chunk = 50_000
    with database.read() as session:
        next_id = int(session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM contacts")) or 0) + 1
    contact_sql = text(
        "INSERT INTO contacts (id, organization_id, email, phone, first_name, last_name, email_status, sms_status,"
        " created_at, updated_at) VALUES (:id, :org, :email, :phone, :first, :last, :es, :ss, :now, :now)"
    )
    tag_sql = text("INSERT INTO contact_tags (contact_id, tag_id) VALUES (:cid, :tag)")
    ledger_sql = text(
        "INSERT INTO consent_events (organization_id, contact_id, channel, subscribed, source, via, occurred_at,"
        " recorded_at) VALUES (:org, :cid, 'email', :sub, 'bench', 'contact.opt_ins', :at, :now)"
    )
    stamp = now.replace(tzinfo=None) if database.is_sqlite else now
    for start in range(0, contacts, chunk):
        rows = []
        for i in range(start, min(contacts, start + chunk)):
            rows.append(
                {
                    "id": next_id + i,
                    "org": org,
                    "email": f"fan{i}@example.com",
                    "phone": f"+1415{i:07d}" if i % 4 == 0 else None,
                    "first": f"First{i % 997}",
                    "last": f"Last{i % 1013}",
                    "es": ("subscribed", "unsubscribed", "unknown")[i % 3 if i % 7 else 0],
                    "ss": "subscribed" if i % 4 == 0 else "unknown",
                    "now": stamp,
                }
            )
        ids = [r["id"] for r in rows]
        ledger = []
        for cid in ids[::5]:
            at = now - timedelta(days=rnd.randint(0, 59), hours=rnd.randint(0, 23))
            ledger.append(
                {
                    "org": org,
                    "cid": cid,
                    "sub": rnd.random() < 0.85,
                    "at": at.replace(tzinfo=None) if database.is_sqlite else at,
                    "now": stamp,
                }
            )
        with database.write() as session:
            session.execute(contact_sql, rows)
            session.execute(tag_sql, [{"cid": cid, "tag": tag_id} for cid in ids[::10]])
            session.execute(ledger_sql, ledger)
    if not database.is_sqlite:
        with database.write() as session:
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT MAX(id) FROM contacts))")
            )
            session.execute(text("ANALYZE"))
    else:
        with database.write() as session:
            session.execute(text("ANALYZE"))
    with database.write() as session:
        for n in range(campaigns):
            campaign = Campaign(
                organization_id=org,
                type="email" if n % 3 else "sms",
                name=f"Campaign {n}",
                subject=f"Subject {n}",
                body="Hello {{ first_name }}",
                status="sent",
                delivered_at=now - timedelta(days=n),
            )
            session.add(campaign)
            session.flush()
            session.add(
                CampaignStats(
                    campaign_id=campaign.id,
                    organization_id=org,
                    recipients=1000 + n,
                    delivered=1000 + n,
                    opens=300,
                    clickers=40,
                    attributed_revenue=12_000,
                )
            )
    return org, tag_id


def time_pages(client: Any, paths: dict[str, str], runs: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, path in paths.items():
        client.get(path)  # warm caches and the template
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
        out[name] = {
            "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(_percentile(samples, 0.95), 1),
            "max_ms": round(max(samples), 1),
        }
    return out


def run_import(database: Any, org: int, rows: int) -> dict[str, Any]:
    from fanhub.imports import service as imports
    from fanhub.ingest.service import drain

    buffer = io.StringIO()
    buffer.write("First Name,Last Name,Email,Phone,Tags,Birthday\n")
    for i in range(rows):
        phone = f"(415) 7{i % 100:02d}-{i // 100 % 10000:04d}" if i % 4 == 0 else ""
        buffer.write(f'Imp{i},Fan,import{i}@example.com,{phone},Imported,"Jan {1 + i % 28}, 1990"\n')
    data = buffer.getvalue().encode()
    started = time.perf_counter()
    with database.write() as session:
        item = imports.create_upload(session, org, "bench.csv", data, "bench")
        public_id = item.public_id
        imports.configure_import(session, org, public_id, mode="subscribe_if_not_opted_out", mapping=dict(item.mapping))
    uploaded = time.perf_counter()
    while True:
        imports.run_import_step(database)
        drain(database, max_batches=4)
        with database.read() as session:
            state = imports.progress(session, imports.get_import(session, org, public_id))
        if state["status"] in (imports.DONE, imports.FAILED_IMPORT):
            break
    finished = time.perf_counter()
    return {
        "rows": rows,
        "status": state["status"],
        "created": state["created"],
        "rejected": state["rejected"],
        "upload_seconds": round(uploaded - started, 2),
        "seconds": round(finished - started, 2),
        "rows_per_second": round(rows / (finished - started)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file in a temporary folder")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="fanhub-bench-manager-")
    url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
    os.environ["FANHUB_DATABASE_URL"] = url
    os.environ.setdefault("FANHUB_SECRET_KEY", "bench-secret-key-0000000000000000")
    from fastapi.testclient import TestClient

    from fanhub.app import create_app
    from fanhub.auth.users import create_user
    from fanhub.config import get_settings
    from fanhub.db.engine import get_database
    from fanhub.db.migrate import upgrade
    from fanhub.worker import tune_runtime

    get_settings.cache_clear()
    upgrade(url)
    database = get_database()
    t0 = time.perf_counter()
    org, tag_id = build_org(database, args.contacts, args.campaigns)
    build_seconds = time.perf_counter() - t0
    print(f"built {args.contacts:,} contacts in {build_seconds:.1f} s", file=sys.stderr)
    with database.write() as session:
        create_user(session, org, "bench@venue.example", "admin", "bench-password-123")
    with TestClient(create_app(get_settings(), database=database, run_worker=False)) as client:
        login = client.get("/manager/login")
        csrf = login.text.split('name="csrf_token" value="')[1].split('"')[0]
        response = client.post(
            "/manager/login",
            data={"email": "bench@venue.example", "password": "bench-password-123", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        middle = args.contacts // 2
        pages = time_pages(
            client,
            {
                "contacts_table": "/manager/contacts",
                "contacts_table_keyset_page": f"/manager/contacts?after={middle}",
                "contacts_search_email": f"/manager/contacts?q=fan{middle}@example.com",
                "filtered_count": f"/manager/contacts?tag={tag_id}&email=subscribed&count=1",
                "dashboard": "/manager/",
                "campaigns": "/manager/campaigns",
            },
            args.runs,
        )
    # The import runs in a worker, and `fanhub serve` / `fanhub worker` tune their runtime at startup
    # (see fanhub.worker.tune_runtime); without it the garbage collector rescans this process's app,
    # test client and page-timing leftovers every few thousand rows.
    tune_runtime()
    imported = run_import(database, org, args.import_rows) if args.import_rows else None
    result = {
        "benchmark": "manager",
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "contacts": args.contacts,
        "campaigns": args.campaigns,
        "runs": args.runs,
        "pages": pages,
        "under_300ms_p95": all(v["p95_ms"] < 300 for v in pages.values()),
        "import": imported,
        "build_seconds": round(build_seconds, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
