"""Ingest benchmark: orders/s end to end over HTTP vs a plain sqlite3 executemany upsert.

Posts N orders (about 30% as many distinct customers, 1-3 items each) in 500-order batches from
several concurrent clients to a real `fanhub serve` process, and measures accepted-to-applied
throughput plus accept latency.

The reference (`reference_orders_s`, `ratio`), measured in the same run, upserts the same rows with
plain sqlite3 `executemany` into equivalent tables: fanhub's own schema, created by its migrations
(the same tables, indexes and foreign keys), writing what fanhub's apply writes for these orders:
contacts (phone kept by its first holder), orders, items, the consent ledger and the per-source
contact links; one commit per 500 orders, WAL, synchronous=FULL, as fanhub runs.

A simplified reference (`simplified_reference_orders_s`, `simplified_ratio`) writes three reduced
tables instead (contacts, orders, items; 4 indexes, no foreign keys, no phones, ledger or source
links), same protocol: the cost of bare rows. Until stop 12 it was reported as the reference, so
earlier figures compare with it; it leaves out what the issue's own rules require fanhub to store.

    uv run python bench/ingest.py [--orders 200000] [--clients 8] [--database-url URL]
                                  [--flow order_placed] [--no-reference]

`--flow order_placed` activates an order_placed flow (a day's wait, then an email) before the run,
so every new order's contact enters it inside ingest's apply, and the in-process worker advances
the wait step as it would in production; `enrollments` reports how many entered. Issue 20's
target: the flow costs <= 10% of `e2e_orders_s`, measured as paired runs without and with it
(`--no-reference` skips the sqlite3 references, which do not change between the two).

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

BATCH = 500


def make_orders(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    customers = max(1, int(count * 0.3))
    orders = []
    for n in range(count):
        c = rng.randrange(customers)
        items = [
            {
                "ticket_type_name": f"Tier {k}",
                "quantity": rng.randint(1, 4),
                "prefee_price": 30.0,
                "total_price": round(35 + rng.random() * 20, 2),
                "currency_code": "USD",
            }
            for k in range(rng.randint(1, 3))
        ]
        orders.append(
            {
                "id": f"o{n}",
                "event_id": f"e{n % 200}",
                "customer": {
                    "email": f"fan{c}@example.com",
                    "phone": f"+1303555{c % 10000:04d}" if c % 3 == 0 else None,
                    "first_name": f"Fan{c}",
                    "last_name": "Example",
                },
                "marketing_opt_ins": {"email": c % 2 == 0, "sms": None},
                "items": items,
                "created_at": "2024-03-02T15:30:00Z",
            }
        )
        if orders[-1]["customer"]["phone"] is None:
            del orders[-1]["customer"]["phone"]
    return orders


def simplified_reference(orders: list[dict[str, Any]], folder: Path) -> float:
    """Plain sqlite3 into three reduced tables: upsert contacts by email, orders by external id,
    replace items; commit per batch."""
    path = folder / "reference.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("""
        PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
        CREATE TABLE contacts(id INTEGER PRIMARY KEY, org INT, email TEXT, phone TEXT, first_name TEXT,
                              last_name TEXT, email_status TEXT, UNIQUE(org, email), UNIQUE(org, phone));
        CREATE TABLE orders(id INTEGER PRIMARY KEY, org INT, source TEXT, external_id TEXT, event_external_id TEXT,
                            contact_id INT, total_cents INT, tickets INT, placed_at TEXT,
                            UNIQUE(org, source, external_id));
        CREATE TABLE items(id INTEGER PRIMARY KEY, order_id INT, name TEXT, quantity INT, total_cents INT);
        CREATE INDEX ix_items_order ON items(order_id);
    """)
    started = time.perf_counter()
    for start in range(0, len(orders), BATCH):
        chunk = orders[start : start + BATCH]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO contacts(org, email, phone, first_name, last_name, email_status) VALUES (1, ?, ?, ?, ?, ?) "
            "ON CONFLICT(org, email) DO UPDATE SET first_name = coalesce(first_name, excluded.first_name), "
            "email_status = CASE WHEN excluded.email_status = 'subscribed' THEN 'subscribed' ELSE email_status END",
            [
                (
                    o["customer"]["email"],
                    None,
                    o["customer"]["first_name"],
                    o["customer"]["last_name"],
                    "subscribed" if o["marketing_opt_ins"]["email"] else "unknown",
                )
                for o in chunk
            ],
        )
        conn.executemany(
            "INSERT INTO orders(org, source, external_id, event_external_id, contact_id, total_cents, tickets, "
            "placed_at) VALUES (1, 'partner:bench', ?, ?, "
            "(SELECT id FROM contacts WHERE org = 1 AND email = ?), ?, ?, ?) "
            "ON CONFLICT(org, source, external_id) DO UPDATE SET total_cents = excluded.total_cents, "
            "tickets = excluded.tickets",
            [
                (
                    o["id"],
                    o["event_id"],
                    o["customer"]["email"],
                    sum(round(i["total_price"] * 100) for i in o["items"]),
                    sum(i["quantity"] for i in o["items"]),
                    o["created_at"],
                )
                for o in chunk
            ],
        )
        conn.executemany(
            "INSERT INTO items(order_id, name, quantity, total_cents) VALUES "
            "((SELECT id FROM orders WHERE org = 1 AND source = 'partner:bench' AND external_id = ?), ?, ?, ?)",
            [
                (o["id"], i["ticket_type_name"], i["quantity"], round(i["total_price"] * 100))
                for o in chunk
                for i in o["items"]
            ],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(orders) / elapsed


def reference(orders: list[dict[str, Any]], folder: Path) -> float:
    """Plain sqlite3 into fanhub's own tables and indexes, writing the rows fanhub's apply writes."""
    from fanhub.db.migrate import upgrade

    path = folder / "schema-reference.db"
    upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
    now = "2026-01-01 00:00:00.000000"
    conn.execute(
        "INSERT INTO organizations(id, name, time_zone, email_attribution_days, sms_attribution_days, created_at) "
        "VALUES (1, 'Reference', 'UTC', 5, 5, ?)",
        (now,),
    )
    source = "partner:bench"
    started = time.perf_counter()
    for start in range(0, len(orders), BATCH):
        chunk = orders[start : start + BATCH]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO contacts(organization_id, email, first_name, last_name, email_status, sms_status, "
            "created_at, updated_at) VALUES (1, ?, ?, ?, 'unknown', 'unknown', ?, ?) "
            "ON CONFLICT(organization_id, email) DO UPDATE SET first_name = coalesce(first_name, excluded.first_name), "
            "last_name = coalesce(last_name, excluded.last_name)",
            [
                (o["customer"]["email"], o["customer"]["first_name"], o["customer"]["last_name"], now, now)
                for o in chunk
            ],
        )
        # A phone joins its email's contact unless another contact already holds it.
        conn.executemany(
            "UPDATE contacts SET phone = ?1 WHERE organization_id = 1 AND email = ?2 AND phone IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM contacts WHERE organization_id = 1 AND phone = ?1)",
            [(o["customer"]["phone"], o["customer"]["email"]) for o in chunk if o["customer"].get("phone")],
        )
        # One ledger entry per buyer whose state changes, as fanhub records it.
        opted_in = list(
            {
                o["customer"]["email"]: (o["created_at"], o["customer"]["email"])
                for o in chunk
                if o["marketing_opt_ins"]["email"]
            }.values()
        )
        conn.executemany(
            "INSERT INTO consent_events(organization_id, contact_id, channel, subscribed, status, source, via, "
            "raw_value, occurred_at, recorded_at) SELECT 1, id, 'email', 1, 'subscribed', 'partner:bench', "
            "'order.marketing_opt_ins', "
            "'true', ?1, ?1 FROM contacts WHERE organization_id = 1 AND email = ?2 AND email_status != 'subscribed'",
            opted_in,
        )
        conn.executemany(
            "UPDATE contacts SET email_status = 'subscribed', email_status_at = ?1 "
            "WHERE organization_id = 1 AND email = ?2 AND email_status != 'subscribed'",
            opted_in,
        )
        conn.executemany(
            "INSERT INTO orders(organization_id, source, external_id, event_external_id, contact_id, status, currency, "
            "prefee_cents, total_cents, refunded_cents, tickets, email_opt_in, sms_opt_in, customer, placed_at, "
            "record_hash, created_at, updated_at) VALUES (1, ?, ?, ?, "
            "(SELECT id FROM contacts WHERE organization_id = 1 AND email = ?), 'completed', 'USD', ?, ?, 0, ?, ?, ?, "
            "?, ?, ?, ?, ?) ON CONFLICT(organization_id, source, external_id) DO UPDATE SET "
            "total_cents = excluded.total_cents, tickets = excluded.tickets, record_hash = excluded.record_hash",
            [
                (
                    source,
                    o["id"],
                    o["event_id"],
                    o["customer"]["email"],
                    sum(round(i["prefee_price"] * 100) for i in o["items"]),
                    sum(round(i["total_price"] * 100) for i in o["items"]),
                    sum(i["quantity"] for i in o["items"]),
                    o["marketing_opt_ins"]["email"],
                    o["marketing_opt_ins"]["sms"],
                    json.dumps(o["customer"]),
                    o["created_at"],
                    hashlib.blake2b(json.dumps(o).encode(), digest_size=16).hexdigest(),
                    now,
                    now,
                )
                for o in chunk
            ],
        )
        conn.executemany(
            "INSERT INTO order_items(order_id, ticket_type_name, quantity, prefee_cents, total_cents, currency) VALUES "
            "((SELECT id FROM orders WHERE organization_id = 1 AND source = ? AND external_id = ?), ?, ?, ?, ?, 'USD')",
            [
                (
                    source,
                    o["id"],
                    i["ticket_type_name"],
                    i["quantity"],
                    round(i["prefee_price"] * 100),
                    round(i["total_price"] * 100),
                )
                for o in chunk
                for i in o["items"]
            ],
        )
        conn.executemany(
            "INSERT INTO contact_sources(organization_id, contact_id, source, email, phone, name, records, "
            "first_seen_at, last_seen_at) VALUES "
            "(1, (SELECT id FROM contacts WHERE organization_id = 1 AND email = ?), ?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT(contact_id, source) DO UPDATE SET records = records + 1, "
            "last_seen_at = excluded.last_seen_at, "
            "email = excluded.email, phone = excluded.phone, name = excluded.name",
            [
                (
                    o["customer"]["email"],
                    source,
                    o["customer"]["email"],
                    o["customer"].get("phone"),
                    f"{o['customer']['first_name']} {o['customer']['last_name']}",
                    now,
                    now,
                )
                for o in chunk
            ],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(orders) / elapsed


# `--flow order_placed`: an active flow every posted order enters (issue 20: enrollment adds
# <= 10% to the end-to-end rate). Its step waits a day, so the run measures enrollment only.
ORDER_PLACED_FLOW = {
    "name": "Thanks for your order",
    "trigger": {"type": "order_placed"},
    "steps": [
        {"type": "wait", "duration": "P1D"},
        {"type": "send", "channel": "email", "subject": "Thanks", "body": "<p>See you there</p>"},
    ],
}


def _fanhub(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "fanhub", *args, "--json"], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout)


def activate_flow(env: dict[str, str], org_id: int) -> None:
    """An active order_placed flow in the organization, through the CLI as an operator would."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(ORDER_PLACED_FLOW, handle)
    try:
        flow_id = _fanhub(env, "flow", "create", "--org", str(org_id), "--file", handle.name)["id"]
    finally:
        os.unlink(handle.name)
    # The bench's orders were placed in 2024: the backfill floor lets them enter as they arrive.
    _fanhub(env, "flow", "activate", str(flow_id), "--backfill", "2024-01-01T00:00:00Z")


def count_enrollments(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM flow_enrollments")).scalar() or 0)
    finally:
        engine.dispose()


def prepare_server(database_url: str, flow: str | None = None) -> str:
    env = dict(os.environ, FANHUB_DATABASE_URL=database_url)
    out = subprocess.run(
        [sys.executable, "-m", "fanhub", "org", "create", "Bench Venue", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    org_id = json.loads(out.stdout)["id"]
    if flow == "order_placed":
        activate_flow(env, org_id)
    out = subprocess.run(
        [sys.executable, "-m", "fanhub", "key", "create", "--org", str(org_id), "--partner", "bench", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return str(json.loads(out.stdout)["token"])


def run_e2e(
    orders: list[dict[str, Any]], database_url: str, clients: int, port: int, flow: str | None = None
) -> dict[str, float]:
    token = prepare_server(database_url, flow)
    env = dict(os.environ, FANHUB_DATABASE_URL=database_url)
    server = subprocess.Popen(
        [sys.executable, "-m", "fanhub", "serve", "--port", str(port), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        bodies = [json.dumps({"orders": orders[s : s + BATCH]}).encode() for s in range(0, len(orders), BATCH)]
        # The orders and bodies are millions of objects: a full collection in this process during
        # the run froze every client for 0.3-0.7 s (measured as accept latency). Frozen, they are
        # never scanned again.
        gc.collect()
        gc.freeze()
        latencies: list[float] = []
        lock = threading.Lock()
        next_body = iter(range(len(bodies)))
        errors: list[str] = []

        # Clients are built before the clock starts: building one loads TLS certificates (~20 ms of
        # this process's GIL), which would otherwise land in the first requests' latencies.
        headers = {"Cymbal-Partner-API-Key": token, "content-type": "application/json"}
        https = [httpx.Client(base_url=base, headers=headers, timeout=60) for _ in range(clients)]

        def client(http: httpx.Client) -> None:
            with http:
                while True:
                    with lock:
                        index = next(next_body, None)
                    if index is None:
                        return
                    t0 = time.perf_counter()
                    response = http.post("/v1/partners/orders", content=bodies[index])
                    elapsed = time.perf_counter() - t0
                    with lock:
                        latencies.append(elapsed)
                        if response.status_code != 201:
                            errors.append(response.text[:200])

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(http,)) for http in https]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accepted_at = time.perf_counter()
        # One kept-alive client: a fresh one per poll cost ~17 ms of CPU (TLS set-up), a third of a
        # core at 20 polls a second, taken from the server applying the backlog.
        with httpx.Client(base_url=base, timeout=10) as poller:
            queued_when_accepted = poller.get("/healthz").json()["backlog"]["queued_batches"]
            while poller.get("/healthz").json()["backlog"]["queued_batches"] > 0:
                time.sleep(0.05)
        applied_at = time.perf_counter()
        if errors:
            raise RuntimeError(f"{len(errors)} batches rejected: {errors[0]}")
        latencies.sort()
        return {
            "e2e_orders_s": len(orders) / (applied_at - started),
            "accept_orders_s": len(orders) / (accepted_at - started),
            "accept_p50_ms": statistics.median(latencies) * 1000,
            "accept_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            # The backlog left when the last batch was accepted, applied with no accepts competing.
            "drain_orders_s": queued_when_accepted * BATCH / max(applied_at - accepted_at, 1e-9),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument(
        "--flow", choices=["order_placed"], default=None, help="activate an order_placed flow before the run"
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the sqlite3 references (paired runs of the e2e figure)"
    )
    args = parser.parse_args()

    if not args.port:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            args.port = sock.getsockname()[1]
    orders = make_orders(args.orders)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database_url = args.database_url or f"sqlite:///{folder / 'fanhub-bench.db'}"
        references: dict[str, float] = {}
        if not args.no_reference:
            print(
                f"reference: plain sqlite3 executemany upsert of {len(orders)} orders into fanhub's own tables",
                file=sys.stderr,
            )
            references["reference_orders_s"] = reference(orders, folder)
            print("simplified reference: the same rows, reduced, into three plain tables", file=sys.stderr)
            references["simplified_reference_orders_s"] = simplified_reference(orders, folder)
            # The references leave ~1 GB of dirty pages; written back by the kernel during the run
            # below, they held its commits' fsyncs for 100-200 ms at a time.
            for written in folder.iterdir():
                written.unlink()
            os.sync()
        print(
            f"fanhub: {args.clients} clients posting {len(orders)} orders to {database_url.split('@')[-1]}"
            + (f", with an active {args.flow} flow" if args.flow else ""),
            file=sys.stderr,
        )
        figures = run_e2e(orders, database_url, args.clients, args.port, args.flow)
        enrollments = count_enrollments(database_url) if args.flow else None
    result: dict[str, Any] = {
        "orders": len(orders),
        "clients": args.clients,
        "database": "sqlite" if database_url.startswith("sqlite") else "postgresql",
        "flow": args.flow,
        **{k: round(v, 1) for k, v in figures.items()},
    }
    if enrollments is not None:
        result["enrollments"] = enrollments
    if references:
        e2e = figures["e2e_orders_s"]
        result |= {
            "reference_orders_s": round(references["reference_orders_s"], 1),
            "ratio": round(e2e / references["reference_orders_s"], 3),
            "simplified_reference_orders_s": round(references["simplified_reference_orders_s"], 1),
            "simplified_ratio": round(e2e / references["simplified_reference_orders_s"], 3),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
