"""The preference center over HTTP (issue 21): the signed page `/p/<token>` shows a person's
channels, lists and genres; GET changes nothing, POST changes only what the person changed, each
consent change in the ledger with `via: preference_center`; forged tokens are 404; lists the page
did not show are never touched; an opt-out made here is not undone by later syncs or imports.
Also: the public flag of lists (CLI, manager) and the footer link in a sent campaign email."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from fanhub.audience.models import AudienceList, ConsentEvent, Contact, ContactGenre, ContactList
from fanhub.audience.service import create_list
from fanhub.campaigns import tokens
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.service import create_campaign, schedule_campaign
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.forms.preferences import sms_consent_text
from fanhub.imports import service as imports
from tests.campaigns.conftest import (  # noqa: F401
    PUBLIC_URL,
    add_contact,
    campaign_env,
    order,
    post_orders,
    smtp_server,
    twilio,
)
from tests.conftest import Tenant, make_tenant
from tests.fakes.smtp import FakeSmtpServer
from tests.manager.conftest import Staff, staff  # noqa: F401
from tests.manager.test_imports import work_off


def _url(org: int, contact_id: int) -> str:
    return f"/p/{tokens.preference_token(org, contact_id)}"


def _ledger(db: Database, contact_id: int) -> list[tuple[str, str, str, str | None]]:
    with db.read() as session:
        rows = session.scalars(
            select(ConsentEvent).where(ConsentEvent.contact_id == contact_id).order_by(ConsentEvent.id)
        ).all()
        return [(e.channel, e.status, e.via, e.raw_value) for e in rows]


def _state(db: Database, contact_id: int) -> tuple[str, str, set[int], set[str]]:
    with db.read() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        lists = set(session.scalars(select(ContactList.list_id).where(ContactList.contact_id == contact_id)))
        genres = set(session.scalars(select(ContactGenre.genre).where(ContactGenre.contact_id == contact_id)))
        return contact.email_status, contact.sms_status, lists, genres


def _lists(db: Database, org: int, **public: bool) -> dict[str, int]:
    with db.write() as session:
        return {name: create_list(session, org, name, public=flag).id for name, flag in public.items()}


def _form(page: str) -> dict[str, Any]:
    """The form as a browser would submit it unchanged: hidden fields and ticked, enabled boxes."""
    data: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None or value is None:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) == "checkbox" and (" checked" not in tag or " disabled" in tag):
            continue
        data.setdefault(name.group(1), []).append(value.group(1).replace("&amp;", "&"))
    return data


def _tick(data: dict[str, Any], name: str, value: str, on: bool = True) -> dict[str, Any]:
    values = [v for v in data.get(name, []) if v != value]
    data[name] = values + ([value] if on else [])
    return data


def test_get_shows_the_person_and_changes_nothing(client: TestClient, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ids = _lists(db, org, News=True, Presale=True, Staff=False, Members=False)
    ann = add_contact(client, db, tenant, "ann@example.com", "+14155550101", genres=["Rock"], list_id=ids["Members"])
    before = (_ledger(db, ann), _state(db, ann))
    for _ in range(3):  # mail scanners fetch links, sometimes repeatedly
        page = client.get(_url(org, ann))
        assert page.status_code == 200
    assert (_ledger(db, ann), _state(db, ann)) == before
    body = page.text
    assert "an…@example.com" in body and "ann@example.com" not in body  # masked
    assert "…0101" in body and "+14155550101" not in body
    assert 'data-state="subscribed"' in body and 'data-state="unknown"' in body  # email, SMS
    # Public lists and the person's own private list; never the private list they are not on.
    assert "News" in body and "Presale" in body and "Members" in body and "Staff" not in body
    assert re.search(r'name="genre" value="Rock" checked', body)
    assert re.search(r'name="genre" value="Jazz" >', body)
    assert sms_consent_text("Belly Up Aspen") in body
    assert page.headers["cache-control"] == "no-store, private"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_post_applies_changes_with_ledger_entries(client: TestClient, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ids = _lists(db, org, News=True, Members=False)
    ann = add_contact(client, db, tenant, "ann@example.com", genres=["Rock"], list_id=ids["Members"])
    url = _url(org, ann)
    data = _form(client.get(url).text)
    assert data["email"] == ["1"] and data["email_was"] == ["1"]
    _tick(data, "email", "1", on=False)
    _tick(data, "list", str(ids["News"]))
    _tick(data, "list", str(ids["Members"]), on=False)
    _tick(data, "genre", "Rock", on=False)
    _tick(data, "genre", "Jazz")
    response = client.post(url, data={**data, "action": "save"})
    assert response.status_code == 200 and "Your preferences are saved." in response.text
    assert _state(db, ann) == ("unsubscribed", "unknown", {ids["News"]}, {"Jazz"})
    assert _ledger(db, ann)[-1] == ("email", "unsubscribed", "preference_center", "unchecked")
    # The page after the save shows the new state; saving it unchanged changes nothing.
    again = _form(response.text)
    assert "email" not in again and again["email_was"] == ["0"]
    entries = len(_ledger(db, ann))
    response = client.post(url, data={**again, "action": "save"})
    assert "Nothing to change" in response.text
    assert len(_ledger(db, ann)) == entries and _state(db, ann)[2:] == ({ids["News"]}, {"Jazz"})
    # Ticking email again is the person's explicit choice: it lifts their own opt-out.
    client.post(url, data={**_tick(again, "email", "1"), "action": "save"})
    assert _state(db, ann)[0] == "subscribed"
    assert _ledger(db, ann)[-1] == ("email", "subscribed", "preference_center", "checked")


def test_a_channel_left_as_shown_is_not_touched(client: TestClient, db: Database, tenant: Tenant) -> None:
    """An unticked box over "unknown" is not an opt-out, and a page rendered before a change elsewhere
    (here staff subscribed SMS meanwhile) does not undo it when the box is left as it was shown."""
    org = tenant.organization_id
    ann = add_contact(client, db, tenant, "ann@example.com", "+14155550101", email_opt_in=None)
    url = _url(org, ann)
    data = _form(client.get(url).text)
    assert data["email_was"] == ["0"] and data["sms_was"] == ["0"]
    post_and_apply_sms = {"contact": {"email": "ann@example.com"}, "opt_ins": {"email": None, "sms": True}}
    response = client.post("/v1/partners/contact", json=post_and_apply_sms, headers=tenant.headers)
    assert response.status_code == 201
    from tests.conftest import drain

    drain(db)
    assert _state(db, ann)[:2] == ("unknown", "subscribed")
    client.post(url, data={**data, "action": "save"})
    assert _state(db, ann)[:2] == ("unknown", "subscribed")


def test_a_pending_channel_is_shown_as_waiting(client: TestClient, db: Database, tenant: Tenant) -> None:
    """A double opt-in request not yet confirmed shows as pending; saving the page as shown keeps it
    pending (only the confirmation link or the person's own tick subscribes)."""
    org = tenant.organization_id
    ann = add_contact(client, db, tenant, "ann@example.com", email_opt_in=None)
    with db.write() as session:
        session.get(Contact, ann).email_status = "pending"  # type: ignore[union-attr]
    url = _url(org, ann)
    page = client.get(url).text
    assert 'data-state="pending"' in page and "Waiting for your confirmation." in page
    client.post(url, data={**_form(page), "action": "save"})
    assert _state(db, ann)[0] == "pending" and _ledger(db, ann) == []


def test_sms_subscription_needs_the_consent_box_and_records_its_text(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    ann = add_contact(client, db, tenant, "ann@example.com", "+14155550101")
    url = _url(org, ann)
    page = client.get(url).text
    # The SMS box is labelled with the consent wording itself.
    assert re.search(r'name="sms" value="1"\s*>\s*<span>Text messages to <strong>…0101</strong>', page)
    data = _form(page)
    client.post(url, data={**_tick(data, "sms", "1"), "action": "save"}, headers={"User-Agent": "FanPhone/1.0"})
    assert _state(db, ann)[1] == "subscribed"
    assert _ledger(db, ann)[-1] == ("sms", "subscribed", "preference_center", "checked")
    with db.read() as session:
        entry = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc()).limit(1)).one()
        # The exact wording beside the box, and where the request came from, as proof of consent.
        assert entry.consent_text == sms_consent_text("Belly Up Aspen")
        assert (entry.form_id, entry.user_agent, entry.ip) == (None, "FanPhone/1.0", "testclient")
    # Without a phone number there is no SMS box, and a crafted SMS field changes nothing.
    ben = add_contact(client, db, tenant, "ben@example.com")
    page = client.get(_url(org, ben)).text
    assert "we have no phone number for you" in page and 'name="sms"' not in page
    client.post(_url(org, ben), data={"sms_was": "0", "sms": "1", "action": "save"})
    assert _state(db, ben)[1] == "unknown" and not [e for e in _ledger(db, ben) if e[0] == "sms"]


def test_unsubscribe_from_everything(client: TestClient, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ids = _lists(db, org, News=True)
    ann = add_contact(
        client, db, tenant, "ann@example.com", "+14155550101", sms_opt_in=True, genres=["Rock"], list_id=ids["News"]
    )
    url = _url(org, ann)
    data = _form(client.get(url).text)
    _tick(data, "genre", "Rock", on=False)  # ignored: "everything" is about messages, not tastes
    response = client.post(url, data={**data, "action": "unsubscribe_all"})
    assert "You are unsubscribed from everything" in response.text
    assert _state(db, ann) == ("unsubscribed", "unsubscribed", {ids["News"]}, {"Rock"})
    assert {e[:3] for e in _ledger(db, ann)[-2:]} == {
        ("email", "unsubscribed", "preference_center"),
        ("sms", "unsubscribed", "preference_center"),
    }
    assert _ledger(db, ann)[-1][3] == "unsubscribe_all"
    # Again: nothing more to record.
    entries = len(_ledger(db, ann))
    client.post(url, data={"action": "unsubscribe_all"})
    assert len(_ledger(db, ann)) == entries


def test_lists_the_page_did_not_show_are_never_changed(client: TestClient, db: Database, tenant: Tenant) -> None:
    other = make_tenant(db, "Other Venue", "other")
    org = tenant.organization_id
    ids = _lists(db, org, News=True, Members=False, Staff=False)
    (foreign,) = _lists(db, other.organization_id, Theirs=True).values()
    ann = add_contact(client, db, tenant, "ann@example.com", list_id=ids["Members"])
    url = _url(org, ann)
    data = _form(client.get(url).text)
    assert set(data["list_shown"]) == {str(ids["News"]), str(ids["Members"])}
    # A save whose page did not show "Members" (an older page, a list joined since) leaves it alone.
    client.post(url, data={"email_was": "1", "email": "1", "list_shown": [str(ids["News"])], "action": "save"})
    assert _state(db, ann)[2] == {ids["Members"]}
    # Crafted posts cannot join a private list or another organization's list.
    crafted = [str(ids["Staff"]), str(foreign)]
    client.post(url, data={**data, "list_shown": crafted, "list": crafted, "action": "save"})
    assert _state(db, ann)[2] == {ids["Members"]}
    # A save without any list or genre fields (a stripped-down form) changes neither.
    with db.write() as session:
        session.add(ContactGenre(contact_id=ann, genre="Jazz"))
    client.post(url, data={"action": "save"})
    assert _state(db, ann)[2:] == ({ids["Members"]}, {"Jazz"})


def test_public_and_private_lists(client: TestClient, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ids = _lists(db, org, News=True, Members=False)
    ann = add_contact(client, db, tenant, "ann@example.com")
    url = _url(org, ann)
    page = client.get(url).text
    assert "News" in page and "Members" not in page
    data = _form(page)
    client.post(url, data={**_tick(data, "list", str(ids["News"])), "action": "save"})
    assert _state(db, ann)[2] == {ids["News"]}
    # A list made private after the page was rendered can no longer be joined from it.
    with db.write() as session:
        session.get(AudienceList, ids["News"]).public = False  # type: ignore[union-attr]
    ben = add_contact(client, db, tenant, "ben@example.com")
    stale = _tick(_form(client.get(_url(org, ben)).text), "list", str(ids["News"]))
    assert "News" not in client.get(_url(org, ben)).text
    client.post(_url(org, ben), data={**stale, "list_shown": [str(ids["News"])], "action": "save"})
    assert _state(db, ben)[2] == set()
    # Its members still see it, and may leave it.
    page = client.get(url).text
    assert "News" in page
    client.post(url, data={**_tick(_form(page), "list", str(ids["News"]), on=False), "action": "save"})
    assert _state(db, ann)[2] == set()


def test_joining_a_list_here_fires_list_joined_flows(client: TestClient, db: Database, tenant: Tenant) -> None:
    from fanhub.db.base import utcnow
    from tests.flows.core_helpers import document, enrollments, make_flow

    org = tenant.organization_id
    ids = _lists(db, org, News=True)
    flow = make_flow(db, org, document({"type": "list_joined", "list_id": ids["News"]}), at=utcnow())
    ann = add_contact(client, db, tenant, "ann@example.com")
    url = _url(org, ann)
    client.get(url)
    assert enrollments(db, flow) == []
    client.post(url, data={**_tick(_form(client.get(url).text), "list", str(ids["News"])), "action": "save"})
    assert [e.contact_id for e in enrollments(db, flow)] == [ann]


@pytest.mark.parametrize("method", ["get", "post"])
def test_forged_or_tampered_tokens_are_404(client: TestClient, db: Database, tenant: Tenant, method: str) -> None:
    org = tenant.organization_id
    ann = add_contact(client, db, tenant, "ann@example.com")
    ben = add_contact(client, db, tenant, "ben@example.com")
    other = make_tenant(db, "Other Venue", "other")
    token = tokens.preference_token(org, ann)
    body, _, signature = token.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    ben_body = tokens.preference_token(org, ben).rpartition(".")[0]
    forged = [
        f"{body}.{flipped}",  # altered signature
        f"{ben_body}.{signature}",  # another contact with ann's signature
        f"{body}",  # no signature
        tokens.make_token(tokens.UNSUBSCRIBE, ann),  # a valid token of another purpose
        tokens.preference_token(other.organization_id, ann),  # signed, but ann is not that org's contact
        tokens.preference_token(org, 999_999),  # signed, no such contact
        "p" + "1" * 100,
    ]
    before = (_ledger(db, ann), _state(db, ann))
    for bad in forged:
        call = getattr(client, method)
        kwargs = {"data": {"action": "unsubscribe_all"}} if method == "post" else {}
        response = call(f"/p/{bad}", **kwargs)
        assert response.status_code == 404, bad
        assert "Link not found" in response.text and "example.com" not in response.text
    assert (_ledger(db, ann), _state(db, ann)) == before
    # An erased person's old link shows and changes nothing either.
    with db.write() as session:
        erased = session.get(Contact, ben)
        assert erased is not None
        erased.erased_at = datetime.now(UTC)
    assert getattr(client, method)(_url(org, ben), **kwargs).status_code == 404
    with db.write() as session:
        session.get(Contact, ben).erased_at = None  # type: ignore[union-attr]
    # Each person's own link shows only their own page.
    assert "be…@example.com" in client.get(_url(org, ben)).text
    assert "be…@example.com" not in client.get(_url(org, ann)).text


def test_an_opt_out_made_here_survives_later_syncs_and_imports(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    ann = add_contact(client, db, tenant, "ann@example.com", "+14155550101", sms_opt_in=True)
    url = _url(org, ann)
    client.post(url, data={"action": "unsubscribe_all"})
    assert _state(db, ann)[:2] == ("unsubscribed", "unsubscribed")
    # A ticketing platform re-sends an order placed (with the opt-in box ticked) before the opt-out.
    old = order("A-1", "ann@example.com", datetime.now(UTC) - timedelta(days=3), phone="+14155550101")
    old["marketing_opt_ins"] = {"email": True, "sms": True}
    post_orders(client, db, tenant, old)
    # A staff CSV import in "subscribe only if not opted out" mode, on both channels.
    with db.write() as session:
        item = imports.create_upload(session, org, "fans.csv", b"email,phone\nann@example.com,4155550101\n", "staff:7")
        public_id = item.public_id
        imports.configure_import(
            session,
            org,
            public_id,
            mode="subscribe_if_not_opted_out",
            sms_mode="subscribe_if_not_opted_out",
            mapping=dict(item.mapping),
            consent_confirmed=True,
            sms_consent_confirmed=True,
            confirmed_by="staff:7",
        )
    work_off(db, public_id)
    assert _state(db, ann)[:2] == ("unsubscribed", "unsubscribed")
    assert [e for e in _ledger(db, ann) if e[1] == "subscribed"][-1][2] != "import.subscribe_if_not_opted_out"
    # Only the person's own new choice brings them back.
    data = _form(client.get(url).text)
    client.post(url, data={**_tick(data, "email", "1"), "action": "save"})
    assert _state(db, ann)[:2] == ("subscribed", "unsubscribed")


def test_list_visibility_from_the_cli(db: Database, tenant: Tenant) -> None:
    from fanhub.cli import app

    org = str(tenant.organization_id)
    runner = CliRunner()
    created = runner.invoke(app, ["list", "create", "Presale", "--org", org, "--public", "--json"])
    assert created.exit_code == 0, created.output
    body = json.loads(created.stdout)
    assert body["name"] == "Presale" and body["public"] is True
    private = json.loads(runner.invoke(app, ["list", "create", "VIPs", "--org", org, "--json"]).stdout)
    assert private["public"] is False
    changed = runner.invoke(app, ["list", "update", str(body["id"]), "--org", org, "--private", "--json"])
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout) == {"id": body["id"], "name": "Presale", "public": False}
    missing = runner.invoke(app, ["list", "update", "999999", "--org", org, "--public", "--json"])
    assert missing.exit_code != 0 and "list 999999 not found" in json.loads(missing.stdout)["error"]
    with db.read() as session:
        assert session.get(AudienceList, body["id"]).public is False  # type: ignore[union-attr]


def test_list_visibility_in_the_manager(staff: Staff) -> None:  # noqa: F811
    response = staff.post("/manager/tags", {"kind": "list", "name": "Presale", "public": "1"})
    assert response.status_code == 303
    with staff.db.read() as session:
        item = session.scalars(select(AudienceList).where(AudienceList.name == "Presale")).one()
        list_id = item.id
        assert item.public is True
    page = staff.client.get("/manager/tags").text
    assert re.search(r'<td class="visibility">Public</td>', page)
    response = staff.post(f"/manager/tags/list/{list_id}/visibility", {"public": "0"})
    assert response.status_code == 303
    with staff.db.read() as session:
        assert session.get(AudienceList, list_id).public is False  # type: ignore[union-attr]
    assert "Make public" in staff.client.get("/manager/tags").text


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_campaign_footer_links_each_recipient_to_their_own_page(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    org = tenant.organization_id
    ann = add_contact(client, db, tenant, "ann@example.com", first_name="Ann")
    ben = add_contact(client, db, tenant, "ben@example.com", first_name="Ben")
    with db.write() as session:
        campaign = create_campaign(
            session,
            org,
            type="email",
            name="News",
            subject="News",
            body="<html><body><p>Hi {{ first_name }}</p></body></html>",
            audience={},
        )
        campaign_id = campaign.id
        schedule_campaign(session, org, campaign_id)
    run_campaign(db, campaign_id)
    for address, contact_id, masked in (("ann@example.com", ann, "an…"), ("ben@example.com", ben, "be…")):
        (mail,) = smtp_server.to(address)
        html = _html(mail)
        (link,) = re.findall(r'href="([^"]+)">Manage your preferences', html)
        assert link == PUBLIC_URL + _url(org, contact_id)  # fanhub's own URL, not a click redirect
        assert link in _text(mail)
        # The one-click unsubscribe is still there, as before.
        assert mail["List-Unsubscribe"].strip("<>") in html
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        page = client.get(link[len(PUBLIC_URL) :])
        assert page.status_code == 200 and f"{masked}@example.com" in page.text
    with db.read() as session:  # one link per person must not become a stored campaign link
        from fanhub.campaigns.models import CampaignLink

        assert not session.scalars(select(CampaignLink).where(CampaignLink.campaign_id == campaign_id)).all()
