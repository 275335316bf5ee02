"""kill -9 of a worker process during a 2,000-enrollment send step: after another worker takes over,
every contact received the step exactly once, except at most one in-flight message per provider
connection, which is `unknown` and never sent again (the campaigns' at-most-once rule)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, select
from tests.campaigns.conftest import campaign_env, smtp_server, twilio  # noqa: F401
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer
from tests.flows.core_helpers import document, send_all, set_org

from fanhub.audience.models import Contact
from fanhub.campaigns.models import Campaign, Delivery
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.bulk import insert_rows
from fanhub.db.engine import Database
from fanhub.flows import engine, service, triggers
from fanhub.flows.models import COMPLETED, FlowEnrollment, FlowStepRun

COUNT = 2000
WORKER = """
from fanhub.db.base import utcnow
from fanhub.db.engine import get_database
from fanhub.flows import engine, jobs
from fanhub.wiring import connect_domains

connect_domains()
database = get_database()
while True:
    engine.advance(database, utcnow())
    jobs.send_steps(database)
"""


def _enroll(db: Database, organization_id: int) -> int:
    now = utcnow()
    rows = [
        {
            "organization_id": organization_id,
            "email": f"fan{i:05d}@example.com",
            "email_status": "subscribed",
            "email_status_at": now,
            "sms_status": "unknown",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(COUNT)
    ]
    with db.write() as session:
        insert_rows(session, Contact, rows)
        flow = service.create_flow(
            session,
            organization_id,
            document(
                {"type": "subscribed", "channel": "email"},
                {"type": "send", "channel": "email", "subject": "Welcome", "body": "<p>Hi</p>"},
            ),
        )
        service.activate_flow(session, organization_id, flow.id, now=now)
        ids = session.scalars(select(Contact.id).where(Contact.organization_id == organization_id)).all()
        triggers.enroll_rows(session, flow, [{"contact_id": i, "instance": f"sub:email:{i}"} for i in ids], now)
        return flow.id


def test_kill_during_a_send_step_sends_each_message_at_most_once(
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FANHUB_SMTP_PER_SECOND", "300")  # the killed worker's pace: ~7 s for the step
    set_org(db, tenant.organization_id, max_messages_per_day=0)
    flow_id = _enroll(db, tenant.organization_id)
    worker = subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(smtp_server.received()) < 400 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.02)
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
        assert 400 <= len(smtp_server.received()) < COUNT
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)

    # Another worker (this process) takes over: dead claims are recovered, the rest is sent.
    for _ in range(50):
        engine.advance(db, utcnow())
        send_all(db)
        with db.read() as session:
            left = session.scalar(
                select(func.count()).where(FlowEnrollment.flow_id == flow_id, FlowEnrollment.state != COMPLETED)
            )
            waiting = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Campaign.flow_id == flow_id, Delivery.status.in_(("pending", "reserved", "sending")))
            )
        if not left and not waiting:
            break

    received = Counter(address for message in smtp_server.received() for address in message.rcpt_tos)
    with db.read() as session:
        statuses = Counter(
            session.scalars(
                select(Delivery.status)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Campaign.flow_id == flow_id)
            )
        )
        runs = session.scalar(select(func.count()).where(FlowStepRun.flow_id == flow_id))
    assert runs == COUNT  # every enrollment ran its step once
    assert max(received.values()) == 1  # nobody got it twice
    assert statuses["sent"] + statuses["unknown"] == COUNT
    assert statuses["unknown"] <= campaign_env.campaign_send_connections
    assert len(received) >= COUNT - statuses["unknown"]
