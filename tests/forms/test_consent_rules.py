"""The consent rules of signup forms (audience/consent.py), the MCP view of pending and form
consents, and the worker's form jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from fanhub.audience.consent import (
    EMAIL,
    FORM,
    FORM_CONFIRM,
    FORM_EXPIRED,
    FORM_PENDING,
    SMS,
    SMS_CONFIRM,
    ConsentChange,
    LedgerEntry,
    pending_expiry_change,
    should_apply,
)
from fanhub.auth.actor import Actor
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.forms.conftest import MakeForm
from tests.forms.test_forms_http import contact_by_email, post_form

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
PENDING_REQUEST = ConsentChange(EMAIL, None, FORM_PENDING, "form:1", NOW, pending=True)


@pytest.mark.parametrize(
    ("current", "applies"),
    [("unknown", True), ("pending", True), ("unsubscribed", False), ("subscribed", False)],
)
def test_a_double_opt_in_request_sets_pending_only_over_unknown_or_pending(current: str, applies: bool) -> None:
    assert PENDING_REQUEST.status == "pending" and PENDING_REQUEST.subscribed is None
    assert should_apply(current, NOW - timedelta(days=1), PENDING_REQUEST) is applies


@pytest.mark.parametrize("via", [FORM, FORM_CONFIRM])
def test_a_form_opt_in_and_a_confirmation_are_explicit_opt_ins(via: str) -> None:
    change = ConsentChange(EMAIL, True, via, "form:1", NOW)
    for current in ("unknown", "pending", "unsubscribed"):
        assert should_apply(current, NOW + timedelta(days=1), change)  # even over a later opt-out
    assert not should_apply("subscribed", None, change)


def test_an_sms_yes_confirms_pending_only() -> None:
    change = ConsentChange(SMS, True, SMS_CONFIRM, "sms:+19705550100", NOW)
    assert should_apply("pending", None, change)
    assert not should_apply("unknown", None, change)
    assert not should_apply("unsubscribed", None, change)
    assert not should_apply("subscribed", None, change)


def test_expiry_goes_back_to_the_state_before_the_requests_and_only_from_pending() -> None:
    history = [LedgerEntry("pending", FORM_PENDING, "form:1"), LedgerEntry("pending", FORM_PENDING, "form:1")]
    change = pending_expiry_change(EMAIL, history, NOW)
    assert change is not None and change.status == "unknown" and change.via == FORM_EXPIRED
    assert should_apply("pending", None, change)
    assert not should_apply("unsubscribed", None, change) and not should_apply("subscribed", None, change)
    # Not pending any more (confirmed, or opted out since): nothing to expire.
    assert pending_expiry_change(EMAIL, [LedgerEntry("subscribed", FORM_CONFIRM, "form:1"), *history], NOW) is None
    assert pending_expiry_change(EMAIL, [], NOW) is None


def test_mcp_get_contact_shows_pending_and_the_form_consent(
    client: TestClient, db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    from fanhub.mcp.tools.contacts import get_contact

    form = make_form(double_opt_in=True, consent_text="News from Belly Up, please.")
    post_form(client, form.key, {"email": "mcp@fans.net"})
    contact_id = contact_by_email(client, tenant, "mcp@fans.net")["id"]
    with db.read() as session:
        details = get_contact(session, Actor.mcp(tenant.organization_id, None, frozenset({"mcp:read"})), contact_id)
    assert details.email_subscription == "pending"
    (entry,) = details.consent_history
    assert (entry.status, entry.via, entry.form_id) == ("pending", "form.pending", form.id)
    assert entry.consent_text == "News from Belly Up, please." and entry.page_url == "https://bellyup.example/join"
    assert "pending" in details.summary()


def test_the_worker_runs_the_form_jobs() -> None:
    from fanhub.forms import jobs
    from fanhub.worker import load_jobs

    loaded = load_jobs()
    assert loaded["forms.confirmations"] is jobs.send_confirmations
    assert loaded["forms.sweep"] is jobs.sweep
