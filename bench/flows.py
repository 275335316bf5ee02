"""Benchmark: a before_event flow for the ticket holders of one big show, beside a campaign to them.

    uv run python bench/flows.py [--contacts 1000000] [--holders 200000] [--database-url URL]

One organization with `--contacts` subscribed contacts, `--holders` of whom hold an order for one
event. A `before_event` flow (offset P1D, one email step) is activated; then, in the same run and
against the same SMTP server (aiosmtpd in its own process, accepting and discarding):
- enrollment: the scan reaching the event's moment enrolls every holder (one INSERT ... SELECT);
- the flow: the worker's flow jobs (engine batches and the step campaign's pipe slices, as
  `fanhub worker` runs them) until every holder's message is sent: steps/s;
- the campaign: a campaign to the same holders (`bought_event_ids`) sent by the campaign pipe
  (`bench/send.py`'s figure): emails/s.
The target (issue 20) is flow steps/s ≥ 0.8 × the campaign's emails/s. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send import _smtp_server  # noqa: E402  (bench/ is not a package)


def _populate(database: Any, contacts: int, holders: int) -> tuple[int, int, Any]:
    """The organization, its contacts, one event in a day and the holders' orders."""
    from sqlalchemy import insert, select

    from fanhub.audience.models import Contact
    from fanhub.catalog.models import Event, Order
    from fanhub.db.base import utcnow
    from fanhub.organizations.models import Organization
    from fanhub.organizations.service import create_organization

    now = utcnow()
    with database.write() as session:
        org = create_organization(session, "Bench venue").id
        organization = session.get(Organization, org)
        assert organization is not None
        organization.max_messages_per_day = 0  # the cap is not what is measured
        organization.quiet_hours_start = organization.quiet_hours_end = "00:00"
        event = Event(
            organization_id=org,
            source="bench",
            external_id="big-show",
            name="The Big Show",
            start_at=now + timedelta(days=1),
            end_at=now + timedelta(days=1, hours=3),
        )
        session.add(event)
        session.flush()
        event_id = event.id
    for start in range(0, contacts, 20_000):
        rows = [
            {
                "organization_id": org,
                "email": f"fan{i}@example.com",
                "first_name": "Fan",
                "email_status": "subscribed",
                "email_status_at": now,
                "sms_status": "unknown",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(contacts, start + 20_000))
        ]
        with database.write() as session:
            session.execute(insert(Contact), rows)
    with database.read() as session:
        ids = list(session.scalars(select(Contact.id).where(Contact.organization_id == org).order_by(Contact.id)))
    for start in range(0, holders, 20_000):
        orders = [
            {
                "organization_id": org,
                "source": "bench",
                "external_id": f"o{i}",
                "event_external_id": "big-show",
                "event_id": event_id,
                "contact_id": ids[i * (contacts // holders)],
                "status": "completed",
                "currency": "USD",
                "total_cents": 4000,
                "tickets": 1,
                "customer": {},
                "placed_at": now - timedelta(days=10),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(holders, start + 20_000))
        ]
        with database.write() as session:
            session.execute(insert(Order), orders)
    return org, event_id, now


def _flow_run(database: Any, org: int, holders: int, now: Any) -> dict[str, float]:
    from sqlalchemy import func, select

    from fanhub.campaigns.models import Campaign, Delivery
    from fanhub.flows import engine, jobs, service, triggers

    with database.write() as session:
        flow = service.create_flow(
            session,
            org,
            {
                "name": "Know before you go",
                "trigger": {"type": "before_event", "offset": "P1D"},
                "steps": [
                    {
                        "type": "send",
                        "channel": "email",
                        "subject": "Tomorrow: {{ event_name }}",
                        "body": "<p>Hi {{ first_name }}</p>",
                    }
                ],
            },
        )
        service.activate_flow(session, org, flow.id, now=now - timedelta(minutes=5))
        flow_id = flow.id
    moment = now + timedelta(minutes=1)
    started = time.perf_counter()
    with database.write() as session:
        enrolled = triggers.scan_event_moments(session, moment)
    enroll_seconds = time.perf_counter() - started
    assert enrolled == holders, enrolled
    started = time.perf_counter()
    while True:
        advanced = engine.advance(database, moment)
        sent = jobs.send_steps(database)
        if not advanced and not sent:
            with database.read() as session:
                done = session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .join(Campaign, Campaign.id == Delivery.campaign_id)
                    .where(Campaign.flow_id == flow_id, Delivery.status == "sent")
                )
            if done == holders:
                break
    seconds = time.perf_counter() - started
    return {"enroll_seconds": enroll_seconds, "enroll_s": holders / enroll_seconds, "steps_s": holders / seconds}


def _campaign_run(database: Any, org: int, event_id: int, holders: int) -> float:
    from fanhub.campaigns.sending import run_campaign
    from fanhub.campaigns.service import create_campaign, schedule_campaign

    with database.write() as session:
        campaign = create_campaign(
            session,
            org,
            type="email",
            name="Bench",
            subject="Tomorrow: {{ event_name }}",
            body="<p>Hi {{ first_name }}</p>",
            audience={"bought_event_ids": [event_id]},
            event_id=event_id,
        )
        schedule_campaign(session, org, campaign.id)
        campaign_id = campaign.id
    started = time.perf_counter()
    counters = run_campaign(database, campaign_id)
    assert counters["delivered"] == holders, counters
    return holders / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--holders", type=int, default=200_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fanhub-bench-flows-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    ctx = multiprocessing.get_context("spawn")
    port_queue, stop = ctx.Queue(), ctx.Event()
    signatures = ctx.Value("q", 0)  # kept referenced: the child rebuilds its lock from it
    server = ctx.Process(target=_smtp_server, args=(port_queue, stop, signatures), daemon=True)
    server.start()
    try:
        port = int(port_queue.get(timeout=30))
        os.environ.update(
            {
                "FANHUB_DATABASE_URL": url,
                "FANHUB_SMTP_HOST": "127.0.0.1",
                "FANHUB_SMTP_PORT": str(port),
                "FANHUB_SECRET_KEY": "bench-secret",
                "FANHUB_PUBLIC_URL": "https://fans.bellyup.example",
                "FANHUB_MAIL_FROM": "Belly Up <news@bellyup.example>",
            }
        )
        from fanhub.config import get_settings
        from fanhub.db.engine import get_database
        from fanhub.db.migrate import upgrade
        from fanhub.wiring import connect_domains

        get_settings.cache_clear()
        upgrade(url)
        connect_domains()
        database = get_database()
        org, event_id, now = _populate(database, args.contacts, args.holders)
        flow = _flow_run(database, org, args.holders, now)
        # The flow's figures as soon as they are measured (a run at the size takes a while).
        print(f"flow phase: {json.dumps({k: round(v, 2) for k, v in flow.items()})}", file=sys.stderr, flush=True)
        campaign_rate = _campaign_run(database, org, event_id, args.holders)
        print(f"enrollment: {args.holders:,} holders in {flow['enroll_seconds']:.2f} s", file=sys.stderr)
        print(f"flow: {flow['steps_s']:,.0f} steps/s; campaign: {campaign_rate:,.0f} emails/s", file=sys.stderr)
        print(
            json.dumps(
                {
                    "contacts": args.contacts,
                    "holders": args.holders,
                    "enroll_seconds": round(flow["enroll_seconds"], 2),
                    "enroll_s": round(flow["enroll_s"], 1),
                    "flow_steps_s": round(flow["steps_s"], 1),
                    "campaign_emails_s": round(campaign_rate, 1),
                    "ratio": round(flow["steps_s"] / campaign_rate, 3),
                    "database": "sqlite" if url.startswith("sqlite") else "postgresql",
                }
            )
        )
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()
        if not args.database_url:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
