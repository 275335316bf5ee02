"""Benchmark: backfill an Eventbrite organization from the local fake into fanhub.

The fake runs in its own process (in this one it would compete with the connector for the GIL).

1. reference: fetch-only, raw httpx through every page of organization orders (with expansions):
   the ceiling the fake itself allows on this machine;
2. backfill: `run_sync` + applying every batch, with no latency and no rate limit: orders/s until
   applied (`--apply worker`, the default: a worker process applies while the sync runs, as in
   production; `--apply after`: drained in this process after the sync), API calls per 1,000;
3. rate-limited: the fake enforces a call budget per window (default 200/s) and the connector's
   budget is configured from it (90% of it, for latency): 429s received (target 0).

Usage: uv run python bench/sync.py [--orders 100000] [--database-url URL]
Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakes


def serve_fake(orders: int, events: int, calls: int | None, window: float) -> None:
    """Child process: the fake Eventbrite on its own core (in-process it would fight us for the GIL)."""
    from tests.fakes.eventbrite import FakeEventbrite

    with FakeEventbrite(
        token="bench-token", calls_per_hour=calls, rate_window_seconds=window, serialized_cache=True
    ) as eb:
        org_id = eb.generate(events=events, orders=orders)["organization_id"]
        print(json.dumps({"base_url": eb.base_url, "organization_id": org_id, "token": eb.token}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                print(json.dumps({"calls": eb.calls, "rate_limited": eb.rate_limited}), flush=True)
            elif line.strip() == "reset":
                eb.reset_rate_limit()
                print("{}", flush=True)


def serve_apply(url: str) -> None:
    """Child process: a worker applying batches while the sync runs, as `fanhub worker` does in production."""
    import select as select_module

    os.environ["FANHUB_DATABASE_URL"] = url
    from fanhub.db.engine import get_database
    from fanhub.ingest.service import apply_next_batches
    from fanhub.runtime import tune_runtime

    database = get_database()
    tune_runtime()  # as `fanhub worker` does at startup
    closing = False
    while True:
        if apply_next_batches(database):
            continue
        if closing:
            return
        ready, _, _ = select_module.select([sys.stdin], [], [], 0.05)
        if ready and not sys.stdin.readline():
            closing = True  # stdin closed: apply what is left, then stop


class FakeProcess:
    def __init__(self, orders: int, events: int, calls: int | None = None, window: float = 3600.0) -> None:
        argv = [sys.executable, __file__, "--serve-fake", str(orders), str(events), str(calls or 0), str(window)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.info: dict[str, Any] = json.loads(self.proc.stdout.readline())

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=None, help="default: about one per 500 orders")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    parser.add_argument(
        "--apply",
        choices=("worker", "after"),
        default="worker",
        help="apply in a worker process during the sync (as in production), or after it in this process",
    )
    parser.add_argument("--budget-calls", type=int, default=200, help="calls per window in the rate-limited run")
    parser.add_argument("--budget-window", type=float, default=1.0, help="window seconds in the rate-limited run")
    return parser.parse_args()


def reference(fake: FakeProcess) -> float:
    """1. Orders/s of a raw fetch-only pass over every page of organization orders (with expansions)."""
    base_url, org_id, token = fake.info["base_url"], fake.info["organization_id"], fake.info["token"]

    def fetch_all() -> tuple[int, int]:
        fetched = pages = 0
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            params: dict[str, str] = {"status": "both", "expand": "attendees,contact_list_preferences"}
            while True:
                body = client.get(f"{base_url}/organizations/{org_id}/orders/", params=params).json()
                fetched += len(body["orders"])
                pages += 1
                if not body["pagination"]["has_more_items"]:
                    break
                params["continuation"] = body["pagination"]["continuation"]
        return fetched, pages

    # An untimed pass first: the fake keeps each order's JSON text, so the timed reference and
    # the backfill both meet a server that answers at API speed, not at rendering speed.
    fetch_all()
    started = time.monotonic()
    fetched, pages = fetch_all()
    orders_s = fetched / (time.monotonic() - started)
    log(f"reference fetch-only: {fetched} orders in {pages} pages, {orders_s:,.0f} orders/s")
    return orders_s


def backfill(fake: FakeProcess, database: Any, url: str, apply: str) -> tuple[Any, float]:
    """2. `run_sync` + applying every batch, no latency or rate limit: (result, orders/s until applied)."""
    from fanhub.connectors.service import ClientOptions, connect_eventbrite, run_sync
    from fanhub.ingest.service import drain
    from fanhub.organizations.service import create_organization

    base_url, org_id, token = fake.info["base_url"], fake.info["organization_id"], fake.info["token"]
    with database.write() as session:
        org = create_organization(session, "Bench Venue").id
    connection = connect_eventbrite(database, org, token, base_url=base_url, eventbrite_organization_id=org_id)
    started = time.monotonic()
    applier = None
    if apply == "worker":
        applier = subprocess.Popen([sys.executable, __file__, "--serve-apply", url], stdin=subprocess.PIPE)
    result = run_sync(database, connection["id"], options=ClientOptions(budget_calls=10**9))
    synced = time.monotonic() - started
    if applier is not None and applier.stdin is not None:
        applier.stdin.close()
        applier.wait()
    applied = drain(database)  # with the worker process, nothing should be left
    total = time.monotonic() - started
    orders_s = result.orders / total
    log(
        f"backfill: {result.orders} orders, {result.events} events, {result.contacts} contacts queued in "
        f"{synced:.1f}s ({result.calls} calls, {result.orders / synced:,.0f} orders/s fetched+mapped); "
        f"applying ({apply}) finished {total - synced:.1f}s later ({applied} batches applied here); "
        f"{total:.1f}s until applied "
        f"→ {orders_s:,.0f} orders/s, {result.calls / result.orders * 1000:.1f} calls/1000 orders"
    )
    return result, orders_s


def rate_limited(fake: FakeProcess, database: Any, args: argparse.Namespace) -> int:
    """3. The fake enforces a call budget and the connector is configured with it: 429s received."""
    from fanhub.connectors.base import RetryPolicy
    from fanhub.connectors.service import ClientOptions, connect_eventbrite, run_sync
    from fanhub.ingest.service import drain
    from fanhub.organizations.service import create_organization

    base_url, org_id, token = fake.info["base_url"], fake.info["organization_id"], fake.info["token"]
    with database.write() as session:
        org = create_organization(session, "Bench Venue (rate limited)").id
    connection = connect_eventbrite(database, org, token, base_url=base_url, eventbrite_organization_id=org_id)
    fake.ask("reset")
    # The client's sliding window runs on its clock and the fake's fixed window on the server's:
    # a 10% margin keeps request latency from pushing a window over the edge.
    options = ClientOptions(
        budget_calls=int(args.budget_calls * 0.9),
        budget_window=args.budget_window + 0.05,
        retry=RetryPolicy(rate_limit_default_wait=args.budget_window),
    )
    started = time.monotonic()
    limited = run_sync(database, connection["id"], options=options)
    received = int(fake.ask("stats")["rate_limited"])
    log(
        f"rate-limited run: {limited.orders} orders, {limited.calls} calls in {time.monotonic() - started:.1f}s "
        f"under {args.budget_calls} calls/{args.budget_window}s; 429s received: {received}"
    )
    if args.database_url:
        drain(database)  # leave no queued batches in a database we were given
    return received


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-apply":
        serve_apply(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-fake":
        orders, events, calls, window = sys.argv[2:6]
        serve_fake(int(orders), int(events), int(calls) or None, float(window))
        return
    args = parse_args()
    tmp = tempfile.mkdtemp(prefix="fanhub-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    os.environ["FANHUB_DATABASE_URL"] = url
    os.environ.setdefault("FANHUB_SECRET_KEY", "bench-secret")

    from fanhub.config import get_settings

    get_settings.cache_clear()
    from fanhub.db.engine import get_database
    from fanhub.db.migrate import upgrade
    from fanhub.runtime import tune_runtime

    upgrade(url)
    database = get_database()
    tune_runtime()  # the sync runs in a worker, which tunes its runtime at startup
    events = args.events or max(1, args.orders // 500)

    fake = FakeProcess(args.orders, events)
    try:
        log(f"fake (own process): {events} events, {args.orders} orders")
        reference_s = reference(fake)
        result, orders_s = backfill(fake, database, url, args.apply)
    finally:
        fake.close()
    fake = FakeProcess(args.orders, events, args.budget_calls, args.budget_window)
    try:
        received = rate_limited(fake, database, args)
    finally:
        fake.close()

    print(
        json.dumps(
            {
                "orders_s": round(orders_s, 1),
                "calls_per_1000_orders": round(result.calls / result.orders * 1000, 2),
                "rate_limited_responses": received,
                "reference_fetch_orders_s": round(reference_s, 1),
                "orders": result.orders,
                "database": "sqlite" if url.startswith("sqlite") else "postgresql",
            }
        )
    )


if __name__ == "__main__":
    main()
