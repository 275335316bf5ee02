"""The manager's signup forms page and the proof of consent on a contact's page."""

from __future__ import annotations

import re

from fanhub.audience.service import create_list
from fanhub.config import Settings
from tests.forms.conftest import MakeForm
from tests.forms.test_forms_http import contact_by_email, post_form
from tests.manager.conftest import Staff


def test_marketer_creates_a_form_and_sees_its_link_and_html(staff: Staff, forms_env: Settings) -> None:
    with staff.db.write() as session:
        list_id = create_list(session, staff.org, "Presale").id
    page = staff.client.get("/manager/forms")
    assert page.status_code == 200 and "No forms yet." in page.text
    refused = staff.post("/manager/forms", {"name": "Pre-sale", "genres": "polka-fusion"})
    assert refused.status_code == 400 and "unknown genre" in refused.text and 'value="Pre-sale"' in refused.text
    created = staff.post(
        "/manager/forms",
        {"name": "Pre-sale", "fields": ["phone", "first_name"], "list_ids": [str(list_id)], "double_opt_in": "1"},
    )
    assert created.status_code == 303
    listing = staff.client.get(created.headers["location"]).text
    assert "“Pre-sale”, created" in listing, created.headers["location"]
    url = re.search(r'href="https?://[^/"]+(/f/[\w-]+)"', listing)
    assert url is not None
    assert "double opt-in" in listing and "email, phone, first_name" in listing
    assert "&lt;form action=" in listing and "&lt;script" not in listing
    hosted = staff.client.get(url.group(1))
    assert hosted.status_code == 200 and 'name="first_name"' in hosted.text and 'name="sms_opt_in"' in hosted.text


def test_contact_page_shows_the_proof_of_consent(staff: Staff, forms_env: Settings, make_form: MakeForm) -> None:
    form = make_form(consent_text="Email me about jazz nights.")
    post_form(staff.client, form.key, {"email": "proof@fans.net"})
    contact = contact_by_email(staff.client, staff.tenant, "proof@fans.net")
    page = staff.client.get(f"/manager/contacts/{contact['id']}").text
    timeline = page[page.index('id="consent-timeline"') :]
    assert f"Form #{form.id} on https://bellyup.example/join" in timeline
    assert "IP testclient" in timeline and "Firefox/128.0" in timeline
    assert "Email me about jazz nights." in timeline
