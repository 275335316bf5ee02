"""The campaign lifecycle rules (campaigns/lifecycle.py): edit, duplicate and delete drafts; cancel a
scheduled or running send; pause and resume through the real pipe and the local SMTP server, with
nobody sent to twice; live progress; test sends to chosen addresses with a contact's merge fields."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from fanhub.audience.models import Contact
from fanhub.campaigns import lifecycle
from fanhub.campaigns.lifecycle import (
    allowed_actions,
    campaign_progress,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
)
from fanhub.campaigns.models import Campaign, CampaignStats
from fanhub.campaigns.schemas import CampaignChanges
from fanhub.campaigns.sending import (
    Message,
    SmtpTransport,
    Transports,
    run_campaign,
    send_slice,
    send_turn,
    start_due,
)
from fanhub.campaigns.sending import pipe as pipe_module
from fanhub.campaigns.service import (
    create_campaign,
    delete_campaign,
    duplicate_campaign,
    edit_campaign,
    get_campaign,
    list_campaigns,
    parse_send_time,
    schedule_campaign,
    send_test,
)
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from tests.campaigns.conftest import add_contact, add_event
from tests.conftest import Tenant, make_tenant
from tests.fakes.smtp import FakeSmtpServer


def _draft(db: Database, tenant: Tenant, **fields: object) -> int:
    values: dict[str, object] = {"type": "email", "name": "News", "subject": "Hi", "body": "Hello {{ first_name }}"}
    values |= fields
    with db.write() as session:
        return create_campaign(session, tenant.organization_id, **values).id  # type: ignore[arg-type]


def _sending(db: Database, tenant: Tenant, client: TestClient, n: int) -> int:
    for i in range(n):
        add_contact(client, db, tenant, f"fan{i:02d}@example.com", first_name=f"Fan{i}")
    campaign_id = _draft(db, tenant)
    with db.write() as session:
        schedule_campaign(session, tenant.organization_id, campaign_id)
        assert start_due(session) == [campaign_id]
    return campaign_id


def _status(db: Database, campaign_id: int) -> str:
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


def _refused(db: Database, change: object, *args: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as caught, db.write() as session:
        change(session, *args)  # type: ignore[operator]
    assert caught.value.errors[0]["field"] == "status"


def _per_recipient(smtp: FakeSmtpServer) -> Counter[str]:
    return Counter(rcpt for message in smtp.received() for rcpt in message.rcpt_tos)


# --- the rules, state by state -------------------------------------------------------------------


def test_the_rules_table() -> None:
    assert allowed_actions("draft") == ["edit", "delete", "schedule", "send_test", "duplicate"]
    assert allowed_actions("scheduled") == ["schedule", "send_test", "cancel", "duplicate"]
    assert allowed_actions("sending") == ["cancel", "pause", "duplicate"]
    assert allowed_actions("paused") == ["cancel", "resume", "duplicate"]
    assert allowed_actions("sent") == allowed_actions("cancelled") == ["duplicate"]


def test_edit_a_draft_with_the_same_checks_as_create(
    client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings
) -> None:
    org = tenant.organization_id
    event_id = add_event(client, db, tenant)
    campaign_id = _draft(db, tenant)
    with db.write() as session:
        changes = CampaignChanges(name="Renamed", body="Hi {{ first_name }} see {{ event_name }}", event_id=event_id)
        edited = edit_campaign(session, org, campaign_id, changes)
        assert (edited.name, edited.subject, edited.event_id) == ("Renamed", "Hi", event_id)
    with db.write() as session:  # only the fields given change; event_id None clears it
        edited = edit_campaign(session, org, campaign_id, CampaignChanges(subject="New", event_id=None))
        assert (edited.name, edited.subject, edited.event_id) == ("Renamed", "New", None)
    for changes, field in (
        (CampaignChanges(subject=" "), "subject"),
        (CampaignChanges(body="{{ nope"), None),
        (CampaignChanges(audience={"nope": []}), "audience.nope"),
        (CampaignChanges(event_id=999999), "event_id"),
    ):
        with pytest.raises(InvalidInput) as caught, db.write() as session:
            edit_campaign(session, org, campaign_id, changes)
        if field:
            assert caught.value.errors[0]["field"] == field
    with db.read() as session:
        assert get_campaign(session, org, campaign_id).subject == "New"  # refused edits changed nothing


def test_only_drafts_change_or_go(client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings) -> None:
    org = tenant.organization_id
    scheduled = _draft(db, tenant, name="Later")
    with db.write() as session:
        schedule_campaign(session, org, scheduled, utcnow() + timedelta(days=1))
    _refused(db, edit_campaign, org, scheduled, CampaignChanges(name="x"), match="cancel the scheduled send to edit")
    _refused(db, delete_campaign, org, scheduled, match="cancel the scheduled send to delete")
    sending = _sending(db, tenant, client, 2)
    _refused(db, edit_campaign, org, sending, CampaignChanges(name="x"), match="only pause, resume and cancel")
    _refused(db, delete_campaign, org, sending, match="only pause, resume and cancel")
    _refused(db, schedule_campaign, org, sending, match="already sending")

    draft = _draft(db, tenant, name="Gone")
    with db.write() as session:
        delete_campaign(session, org, draft)
    with db.read() as session:
        assert session.get(Campaign, draft) is None and session.get(CampaignStats, draft) is None
    other = make_tenant(db, "Other", "other")
    with pytest.raises(NotFound), db.write() as session:
        delete_campaign(session, other.organization_id, scheduled)


def test_duplicate_any_state_into_a_new_draft(
    client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings
) -> None:
    org = tenant.organization_id
    sending = _sending(db, tenant, client, 1)
    with db.write() as session:
        copy = duplicate_campaign(session, org, sending, created_by="staff:1")
        assert (copy.status, copy.name, copy.subject, copy.body) == (
            "draft",
            "Copy of News",
            "Hi",
            "Hello {{ first_name }}",
        )
        copy_id = copy.id
    with db.read() as session:
        assert [(c.id, c.status) for c in list_campaigns(session, org)] == [(copy_id, "draft"), (sending, "sending")]


def test_cancel_a_scheduled_send_returns_it_to_draft(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    org = tenant.organization_id
    add_contact(client, db, tenant, "ann@example.com", first_name="Ann")
    campaign_id = _draft(db, tenant)
    with db.write() as session:
        schedule_campaign(session, org, campaign_id, utcnow() - timedelta(seconds=1))  # due now
        cancelled = cancel_campaign(session, org, campaign_id)
        assert (cancelled.status, cancelled.scheduled_at) == ("draft", None)
    with db.write() as session:
        assert start_due(session) == []
    assert send_turn(db) is False
    assert smtp_server.received() == []
    _refused(db, cancel_campaign, org, campaign_id, match="is a draft; there is no send to cancel")


# --- pause, resume, cancel through the real pipe ---------------------------------------------------


class PausingTransport:
    """Real SMTP; after the `at`-th message it pauses (or cancels) the campaign, as staff would from the
    manager while the worker is in the middle of a slice."""

    name = "smtp"

    def __init__(self, smtp: FakeSmtpServer, db: Database, org: int, campaign_id: int, at: int, change: object) -> None:
        self.inner = SmtpTransport(smtp.host, smtp.port)
        self.db, self.org, self.campaign_id, self.at, self.change = db, org, campaign_id, at, change
        self.count = 0

    def push(self, message: Message) -> str | None:
        result = self.inner.push(message)
        self.count += 1
        if self.count == self.at:
            with self.db.write() as session:
                self.change(session, self.org, self.campaign_id)  # type: ignore[operator]
        return result

    def close(self) -> None:
        self.inner.close()


def test_pause_mid_slice_sends_nothing_more_and_resume_sends_nobody_twice(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,
    smtp_server: FakeSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipe_module, "STATUS_CHECK_SECONDS", 0.0)  # look at the status before every message
    org = tenant.organization_id
    campaign_id = _sending(db, tenant, client, 10)
    pausing = PausingTransport(smtp_server, db, org, campaign_id, at=3, change=pause_campaign)
    result = send_slice(db, campaign_id, transports=Transports(email=pausing), batch_size=10)
    pausing.close()
    assert (result.delivered, result.stopped) == (3, "paused")
    assert _status(db, campaign_id) == "paused"
    assert len(smtp_server.received()) == 3

    # Paused: the worker takes no slice, run_campaign stops at once, nothing more goes out.
    assert send_turn(db) is False
    run_campaign(db, campaign_id)
    assert len(smtp_server.received()) == 3
    with db.read() as session:
        progress = campaign_progress(session, org, campaign_id)
    assert (progress.status, progress.sent, progress.total, progress.remaining) == ("paused", 3, 10, 7)
    assert progress.actions == ["cancel", "resume", "duplicate"] and "paused" in progress.text
    _refused(db, pause_campaign, org, campaign_id, match="already paused")

    # Someone unsubscribes while it is paused: consent still holds after the resume.
    with db.write() as session:
        contact = session.query(Contact).filter_by(email="fan09@example.com").one()
        contact.email_status = "unsubscribed"
    with db.write() as session:
        resume_campaign(session, org, campaign_id)
    _refused(db, resume_campaign, org, campaign_id, match="already sending")
    counters = run_campaign(db, campaign_id)
    assert counters == {
        "recipients": 10,
        "delivered": 9,
        "undelivered": 0,
        "skipped": 1,
        "unknown": 0,
        "suppressed": 0,
        "deferred": 0,
    }
    per_recipient = _per_recipient(smtp_server)
    assert len(per_recipient) == 9 and max(per_recipient.values()) == 1  # nobody twice
    assert "fan09@example.com" not in per_recipient
    assert _status(db, campaign_id) == "sent"
    _refused(db, pause_campaign, org, campaign_id, match="only a sending campaign can be paused")


def test_cancel_while_sending_stops_for_good(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,
    smtp_server: FakeSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipe_module, "STATUS_CHECK_SECONDS", 0.0)
    org = tenant.organization_id
    campaign_id = _sending(db, tenant, client, 6)
    cancelling = PausingTransport(smtp_server, db, org, campaign_id, at=2, change=cancel_campaign)
    result = send_slice(db, campaign_id, transports=Transports(email=cancelling), batch_size=10)
    cancelling.close()
    assert (result.delivered, result.stopped) == (2, "cancelled")
    run_campaign(db, campaign_id)
    assert send_turn(db) is False
    assert len(smtp_server.received()) == 2
    with db.read() as session:
        progress = campaign_progress(session, org, campaign_id)
        campaign = get_campaign(session, org, campaign_id)
        assert campaign.cancelled_at is not None
    assert (progress.status, progress.sent, progress.remaining, progress.eta_seconds) == ("cancelled", 2, 4, None)
    assert progress.finished_at is not None and "4 not sent" in progress.text
    for change in (resume_campaign, pause_campaign, cancel_campaign):
        _refused(db, change, org, campaign_id, match="cancelled")


def test_cancel_a_paused_campaign(client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings) -> None:
    org = tenant.organization_id
    campaign_id = _sending(db, tenant, client, 3)
    with db.write() as session:
        pause_campaign(session, org, campaign_id)
    with db.write() as session:
        cancel_campaign(session, org, campaign_id)
    assert run_campaign(db, campaign_id)["delivered"] == 0
    assert _status(db, campaign_id) == "cancelled"


def test_progress_rate_and_estimated_finish(
    client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings
) -> None:
    org = tenant.organization_id
    campaign_id = _sending(db, tenant, client, 4)
    send_slice(db, campaign_id, batch_size=2)
    with db.write() as session:  # pretend the two took 10 s, 30 s of which... none: pauses are left out
        stats = session.get(CampaignStats, campaign_id)
        assert stats is not None
        stats.started_at = utcnow() - timedelta(seconds=40)
        stats.paused_seconds = 30
    with db.read() as session:
        progress = campaign_progress(session, org, campaign_id)
    assert (progress.sent, progress.settled, progress.total, progress.percent) == (2, 2, 4, 50)
    assert progress.per_second is not None and 0.15 < progress.per_second < 0.25
    assert progress.eta_seconds is not None and 8 <= progress.eta_seconds <= 12
    assert progress.estimated_finish is not None and "per second" in progress.text


# --- test sends ------------------------------------------------------------------------------------


def test_send_tests_to_chosen_addresses_with_a_contacts_merge_fields(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    org = tenant.organization_id
    ann = add_contact(client, db, tenant, "ann@example.com", first_name="Ann")
    add_contact(client, db, tenant, "gone@example.com", first_name="Gone", email_opt_in=False)
    campaign_id = _draft(db, tenant, subject="For {{ first_name }}")

    result = send_test(
        db, org, campaign_id, to="a@venue.example, B@Venue.example;a@venue.example", contact="ann@example.com"
    )
    assert (result.to, result.rendered_for, result.contact_id) == (["a@venue.example", "b@venue.example"], "Ann", ann)
    for address in result.to:
        (message,) = smtp_server.to(address)
        assert message["Subject"] == "[TEST] For Ann"
    by_id = send_test(db, org, campaign_id, to=["c@venue.example"], contact=str(ann))
    assert by_id.rendered_for == "Ann"
    default = send_test(db, org, campaign_id, to="d@venue.example")
    assert default.rendered_for == "Test"
    assert smtp_server.to("d@venue.example")[0]["Subject"] == "[TEST] For Test"

    with db.read() as session:
        assert session.query(Contact).filter_by(email="gone@example.com").one().email_status == "unsubscribed"
    sent_before = len(smtp_server.received())
    for to, contact, field in (
        ("x@venue.example, gone@example.com", None, "to"),  # consent holds for tests too
        ("not an address", None, "to"),
        ("", None, "to"),
        ("x@venue.example", "nobody@example.com", "contact"),
        (",".join(f"t{i}@venue.example" for i in range(21)), None, "to"),
    ):
        with pytest.raises(InvalidInput) as caught:
            send_test(db, org, campaign_id, to=to, contact=contact)
        assert caught.value.errors[0]["field"] == field
    assert len(smtp_server.received()) == sent_before

    sms = _draft(db, tenant, type="sms", subject=None)
    with pytest.raises(InvalidInput, match="test sends are for email"):
        send_test(db, org, sms, to="x@venue.example")
    other = make_tenant(db, "Other", "other")
    with pytest.raises(NotFound):
        send_test(db, other.organization_id, campaign_id, to="x@venue.example")


def test_send_times_in_the_organizations_time_zone() -> None:
    assert parse_send_time("2031-05-01T19:30", "America/Denver").isoformat() == "2031-05-02T01:30:00+00:00"
    assert parse_send_time("2031-05-01T19:30:00Z", "America/Denver").isoformat() == "2031-05-01T19:30:00+00:00"
    assert parse_send_time("2031-05-01 19:30", None).isoformat() == "2031-05-01T19:30:00+00:00"
    with pytest.raises(InvalidInput) as caught:
        parse_send_time("tomorrow", "UTC")
    assert caught.value.errors[0]["field"] == "at"


def test_refusals_say_what_to_do_instead() -> None:
    assert lifecycle.refusal(5, "scheduled", "pause") == (
        "Campaign 5 is scheduled, not sending yet; cancel the scheduled send instead."
    )
    assert lifecycle.refusal(5, "sent", "cancel") == "Campaign 5 is sent; there is nothing left to cancel."
    assert lifecycle.refusal(5, "sent", "schedule") == "campaign 5 is already sent; nothing was changed."
    assert lifecycle.refusal(5, "sending", "pause") is None
