"""One batch of many reports (`apply_reports`, what a mailbox import and a provider webhook call):
matched in a few set-based lookups and written in bulk, it must do what the same reports applied one
by one do, including reports that depend on each other inside the batch (the same delivery bounced
twice, soft bounces reaching the limit together, a replayed report). Counts are computed by hand."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from fanhub.audience import suppression
from fanhub.audience.models import Contact
from fanhub.campaigns.models import Delivery, DeliveryFailure
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.sending.trace import delivery_token
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.deliverability.apply import apply_reports
from fanhub.deliverability.models import Bounce
from fanhub.deliverability.reports import BounceReport
from tests.campaigns.conftest import add_contact, campaign_env, smtp_server, twilio  # noqa: F401 (fixtures)
from tests.conftest import Tenant
from tests.deliverability.test_apply import _campaign, _stats, bounce_env  # noqa: F401 (fixture)
from tests.fakes.smtp import FakeSmtpServer

FANS = ("a", "b", "c", "d", "e", "f")


def _soft(recipient: str) -> BounceReport:
    return BounceReport(kind="soft", reason="mailbox_full", recipient=recipient, status="4.2.2", source="dsn")


def test_a_batch_matches_and_writes_like_reports_one_by_one(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    org = tenant.organization_id
    for name in FANS:
        add_contact(client, db, tenant, f"{name}@example.com", first_name=name)
    one = _campaign(db, tenant, "One")
    run_campaign(db, one)
    two = _campaign(db, tenant, "Two")
    run_campaign(db, two)
    with db.write() as session:
        # Campaign One went out a day earlier; f was last mailed 31 days ago (beyond the lookback).
        now = utcnow()
        session.execute(update(Delivery).where(Delivery.campaign_id == one).values(sent_at=now - timedelta(days=1)))
        session.execute(
            update(Delivery).where(Delivery.address == "f@example.com").values(sent_at=now - timedelta(days=31))
        )
        rows = session.execute(select(Delivery.campaign_id, Delivery.address, Delivery.id, Delivery.provider_id)).all()
        ids = {(c, a.partition("@")[0]): (i, p) for c, a, i, p in rows}
    assert _stats(db, one) == (6, 6, 0, 0, 0, 0, 0) and _stats(db, two) == (6, 6, 0, 0, 0, 0, 0)

    # Stored before the batch: one soft bounce of d (by address: the latest delivery, Two's).
    assert apply_reports(db, [(_soft("d@example.com"), "t:0")]).soft == 1

    a_token = delivery_token(ids[(one, "a")][0])
    hard = BounceReport(kind="hard", reason="user_unknown", recipient="a@forwarded.example", verp_token=a_token)
    batch = [
        (hard, "t:1"),  # One's a by VERP token, whatever address it names
        (BounceReport(kind="soft", reason="mailbox_full", delivery_ref=a_token, source="sendgrid"), "t:2"),
        (BounceReport(kind="soft", reason="mailbox_full", message_id=str(ids[(two, "b")][1]).strip("<>")), "t:3"),
        (BounceReport(kind="complaint", reason="abuse", recipient="c@example.com", source="arf"), "t:4"),
        (_soft("d@example.com"), "t:5"),
        (_soft("d@example.com"), "t:6"),  # with t:0 and t:5, d's third soft bounce in 30 days
        (_soft("e@example.com"), "t:7"),
        (_soft("e@example.com"), "t:8"),  # e's second: below the limit of 3
        (BounceReport(kind="hard", reason="user_unknown", recipient="f@example.com"), "t:9"),  # too old
        (BounceReport(kind="hard", reason="user_unknown", verp_token="forged-00"), "t:10"),
        (hard, "t:1"),  # the first report again
        (BounceReport(kind="ignored", reason="auto_reply", recipient="b@example.com"), "t:11"),
    ]
    tally = apply_reports(db, batch)
    assert tally.as_dict() == {
        "read": 0,
        "hard": 1,
        "soft": 6,
        "complaints": 1,
        "ignored": 1,
        "unmatched": 2,
        "duplicates": 1,
    }
    assert tally.campaigns == {one, two}
    # One: a bounced twice, undelivered once: delivered 6 - 1 = 5; hard 1, soft 1.
    assert _stats(db, one) == (6, 5, 1, 1, 1, 0, 0)
    # Two: d (before the batch), b and e undelivered: delivered 6 - 3 = 3; soft 1 + b 1 + d 2 + e 2 = 6.
    assert _stats(db, two) == (6, 3, 3, 0, 6, 1, 0)
    with db.read() as session:
        listed = {s.address: s.reason for s in suppression.page(session, org)[0]}
        assert listed == {"a@example.com": "hard_bounce", "c@example.com": "complaint", "d@example.com": "soft_bounce"}
        matched = session.execute(select(Bounce.replay_key, Bounce.delivery_id, Bounce.matched_by)).all()
        assert {key: (delivery, how) for key, delivery, how in matched} == {
            "t:0": (ids[(two, "d")][0], "address"),
            "t:1": (ids[(one, "a")][0], "verp"),
            "t:2": (ids[(one, "a")][0], "metadata"),
            "t:3": (ids[(two, "b")][0], "message_id"),
            "t:4": (ids[(two, "c")][0], "address"),
            "t:5": (ids[(two, "d")][0], "address"),
            "t:6": (ids[(two, "d")][0], "address"),
            "t:7": (ids[(two, "e")][0], "address"),
            "t:8": (ids[(two, "e")][0], "address"),
        }
        failures = session.execute(select(DeliveryFailure.delivery_id, DeliveryFailure.kind)).all()
        bounced = sorted((d, k) for d, k in failures if k.startswith("bounce_"))
        expected = [(ids[(one, "a")][0], "bounce_hard")] + [(ids[(two, n)][0], "bounce_soft") for n in "bde"]
        assert bounced == sorted(expected)
        a_delivery = session.get(Delivery, ids[(one, "a")][0])
        assert a_delivery is not None and a_delivery.status == "failed"
        assert a_delivery.error is not None and a_delivery.error.startswith("bounce hard:")  # the first bounce says why
        statuses = {c.email: c.email_status for c in session.scalars(select(Contact))}
        assert statuses == {**{f"{n}@example.com": "subscribed" for n in FANS}, "c@example.com": "unsubscribed"}

    # The whole batch again: every matched report is a duplicate, nothing changes twice.
    again = apply_reports(db, batch)
    assert (again.duplicates, again.unmatched, again.ignored, again.hard, again.soft) == (9, 2, 1, 0, 0)
    assert _stats(db, one) == (6, 5, 1, 1, 1, 0, 0) and _stats(db, two) == (6, 3, 3, 0, 6, 1, 0)
