"""Large batch bodies are validated in helper processes: same answers as in the API process, a killed
helper costs no request, and helpers do not outlive a killed API process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.app import create_app
from fanhub.auth.service import create_key
from fanhub.catalog.models import Order
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.organizations.service import create_organization
from fanhub.partners.schemas import CreateEventsRequest, CreateOrdersRequest
from fanhub.partners.validation import ValidationPool, check_body
from tests.conftest import Tenant, drain
from tests.examples import EVENTS, fresh, order
from tests.processes import fanhub_env, free_port, start_server, stop

REGION = {"phone_region": "US"}


def _orders(count: int, prefix: str = "o") -> dict[str, Any]:
    return {"orders": [order(f"{prefix}{n}", f"fan{n}@example.com", opt_in_email=True) for n in range(count)]}


def _bad_bodies() -> list[tuple[str, bytes]]:
    missing_customer = _orders(3)
    del missing_customer["orders"][2]["customer"]
    naive_time = _orders(3)
    naive_time["orders"][1]["created_at"] = "2024-03-02T15:30:00"
    bad_phone = _orders(2)
    bad_phone["orders"][0]["customer"] = {"phone": "not a phone"}
    negative_price = _orders(2)
    negative_price["orders"][1]["items"][0]["total_price"] = -1
    return [
        ("missing customer", json.dumps(missing_customer).encode()),
        ("datetime without offset", json.dumps(naive_time).encode()),
        ("unparseable phone", json.dumps(bad_phone).encode()),
        ("negative price", json.dumps(negative_price).encode()),
        ("malformed JSON", b'{"orders": [{"id": "1",'),
    ]


@pytest.fixture
def pool() -> Iterator[ValidationPool]:
    validation = ValidationPool(processes=1, threshold_bytes=0)
    validation.start()
    assert validation.wait_ready(60), "the helper did not start"
    yield validation
    validation.close()


def test_a_helper_answers_exactly_as_the_api_process(pool: ValidationPool) -> None:
    valid = json.dumps(_orders(7)).encode()
    assert asyncio.run(pool.check(CreateOrdersRequest, "orders", valid, REGION)) == 7
    events = json.dumps(fresh(EVENTS)).encode()
    assert asyncio.run(pool.check(CreateEventsRequest, "events", events, REGION)) == 1
    for name, body in _bad_bodies():
        in_process = check_body(CreateOrdersRequest, "orders", body, REGION)
        in_helper = asyncio.run(pool.check(CreateOrdersRequest, "orders", body, REGION))
        assert isinstance(in_helper, list) and in_helper, name
        assert in_helper == in_process, name


def test_a_killed_helper_costs_no_request_and_the_pool_comes_back(pool: ValidationPool) -> None:
    (helper,) = pool.helper_pids
    os.kill(helper, signal.SIGKILL)
    time.sleep(0.2)
    body = json.dumps(_orders(5)).encode()
    assert asyncio.run(pool.check(CreateOrdersRequest, "orders", body, REGION)) == 5  # answered in-process
    assert pool.wait_ready(60), "the pool did not restart"
    assert pool.helper_pids and pool.helper_pids != [helper]
    assert asyncio.run(pool.check(CreateOrdersRequest, "orders", body, REGION)) == 5


def test_the_api_answers_through_helpers_with_the_same_codes(db: Database, settings: Settings, tenant: Tenant) -> None:
    pooled = settings.model_copy(update={"validation_processes": 1})
    app = create_app(pooled, database=db, run_worker=False)
    with TestClient(app) as client:
        validation: ValidationPool = app.state.validation
        assert validation.ready and validation.helper_pids  # serving starts once the helper is warm
        validation.threshold_bytes = 0
        bad = _orders(4)
        bad["orders"][3]["marketing_opt_ins"] = {"email": "perhaps"}
        response = client.post("/v1/partners/orders", json=bad, headers=tenant.headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["index"] == 3
        assert response.json()["errors"][0]["field"] == "orders[3].marketing_opt_ins.email"
        malformed = client.post("/v1/partners/orders", content=b"{", headers=tenant.headers)
        assert malformed.status_code == 400
        accepted = client.post("/v1/partners/orders", json=_orders(6), headers=tenant.headers)
        assert accepted.status_code == 201
    assert validation.helper_pids == []  # closed with the app
    assert drain(db) == 1
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 6


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has exited; only its exit status is left


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                children.append(int(entry.name))
    return children


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the helpers through /proc (Linux)")
def test_helpers_of_a_server_killed_with_9_exit_and_what_it_acknowledged_is_applied(db: Database) -> None:
    with db.write() as session:
        org = create_organization(session, "Helper Venue")
        _, token = create_key(session, org.id, "acme")
    port = free_port()
    server = start_server(port, env=fanhub_env(FANHUB_VALIDATION_PROCESSES="2"))
    try:
        helpers = _children(server.pid)
        assert len(helpers) >= 2, "the server should run two validation helpers"
        body = _orders(300, prefix="big")  # ~100 KB: over the threshold, validated by a helper
        assert len(json.dumps(body)) > 64 * 1024
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/partners/orders",
            json=body,
            headers={"Cymbal-Partner-API-Key": token},
            timeout=30,
        )
        assert response.status_code == 201
        server.send_signal(signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in helpers):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in helpers), "helpers outlived the server"
    finally:
        stop(server)
    restarted = start_server(port, env=fanhub_env(FANHUB_VALIDATION_PROCESSES="0"))
    try:
        deadline = time.monotonic() + 60
        applied = 0
        while time.monotonic() < deadline and applied < 300:
            with db.read() as session:
                applied = session.scalar(select(func.count()).select_from(Order).where(Order.organization_id == org.id))
            time.sleep(0.1)
    finally:
        stop(restarted)
    assert applied == 300
