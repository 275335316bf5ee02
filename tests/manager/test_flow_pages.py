"""Flow pages over HTTP: the list with figures, new from a template, the step editor (edit, add,
remove, reorder; validation errors shown with their JSON path and nothing saved), the JSON editor,
activate / pause / resume, the funnel, organizations kept apart, viewers refused."""

from __future__ import annotations

import re
from typing import Any

from fanhub.db.engine import Database
from fanhub.flows.models import Flow
from fanhub.flows.templates import KNOW_BEFORE_YOU_GO
from tests.conftest import make_tenant
from tests.flows.front_data import seed_flow
from tests.manager.conftest import Staff
from tests.manager.helpers import csrf_of, login, make_user


def _flow(db: Database, flow_id: int) -> Flow:
    with db.read() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        session.expunge(flow)
        return flow


def _form(html: str) -> dict[str, Any]:
    """The editor form's current values, as a browser would send them (no button pressed)."""
    form = html[html.index('id="flow-editor"') : html.index("</form>", html.index('id="flow-editor"'))]
    values: dict[str, Any] = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and 'type="checkbox"' not in tag:
            values[name.group(1)] = _unescape(value.group(1) if value else "")
    for name, body in re.findall(r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = _unescape(body)
    for name, options in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options) or re.search(
            r'<option value="([^"]*)"', options
        )
        values[name] = _unescape(chosen.group(1)) if chosen else ""
    return values


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def _create(staff: Staff, template: str) -> int:
    response = staff.post("/manager/flows/new", {"template": template})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("?")[0].rsplit("/", 1)[1])


def test_the_list_shows_figures_and_templates(staff: Staff) -> None:
    seeded = seed_flow(staff.db, staff.org)
    other = make_tenant(staff.db, "Other Venue", "other")
    seed_flow(staff.db, other.organization_id, "Not mine")
    page = staff.client.get("/manager/flows")
    assert page.status_code == 200
    row = page.text[page.text.index(f'data-flow-id="{seeded.flow_id}"') :]
    row = row[: row.index("</tr>")]
    assert "Know before you go" in row and "Before an event" in row and ">active<" in row
    assert '<td class="num entered">5</td>' in row and '<td class="num sent">5</td>' in row and "$80.00" in row
    assert "Not mine" not in page.text
    for key in ("order_thank_you", "know_before_you_go", "post_show", "welcome", "new_show_alert"):
        assert f'id="new-{key}"' in page.text
    assert 'href="/manager/flows" class="active"' in page.text  # the navigation link


def test_new_from_template_then_edit_a_step(staff: Staff) -> None:
    flow_id = _create(staff, "know_before_you_go")
    flow = _flow(staff.db, flow_id)
    assert (flow.status, flow.definition) == ("draft", KNOW_BEFORE_YOU_GO.document)
    page = staff.client.get(f"/manager/flows/{flow_id}")
    assert page.status_code == 200 and 'id="activate-flow"' in page.text
    values = _form(page.text)
    assert values["s1_duration"] == "PT4H" and values["s3_channel"] == "sms"
    values.update({"s1_duration": "PT2H", "s0_subject": "See you tomorrow at {{ venue }}", "op": "save"})
    saved = staff.post(f"/manager/flows/{flow_id}/edit", values)
    assert saved.status_code == 303 and "Flow+saved" in saved.headers["location"].replace("%20", "+")
    steps = _flow(staff.db, flow_id).definition["steps"]
    assert steps[1] == {"type": "wait", "duration": "PT2H"}
    assert steps[0]["subject"] == "See you tomorrow at {{ venue }}"
    # Untouched steps come back as they were (the condition's segment JSON included).
    assert steps[2:] == KNOW_BEFORE_YOU_GO.document["steps"][2:]
    assert _flow(staff.db, flow_id).definition["trigger"] == KNOW_BEFORE_YOU_GO.document["trigger"]


def test_a_value_of_the_wrong_kind_is_named_by_the_validator(staff: Staff) -> None:
    flow_id = _create(staff, "order_thank_you")
    values = _form(staff.client.get(f"/manager/flows/{flow_id}").text)
    assert (
        staff.post(f"/manager/flows/{flow_id}/edit", {**values, "op": "add", "add_type": "add_to_list"}).status_code
        == 303
    )
    values = _form(staff.client.get(f"/manager/flows/{flow_id}").text)
    values.update({"s1_list_id": "the VIP list", "exit_bought_event": "last show", "op": "save"})
    response = staff.post(f"/manager/flows/{flow_id}/edit", values)
    assert response.status_code == 400
    text = _unescape(response.text)
    assert "steps[1].list_id: Input should be a valid integer" in text and 'value="the VIP list"' in text
    assert "exit.bought_event:" in text


def test_add_reorder_and_remove_steps(staff: Staff) -> None:
    flow_id = _create(staff, "order_thank_you")
    values = _form(staff.client.get(f"/manager/flows/{flow_id}").text)
    assert staff.post(f"/manager/flows/{flow_id}/edit", {**values, "op": "add", "add_type": "wait"}).status_code == 303
    assert [s["type"] for s in _flow(staff.db, flow_id).definition["steps"]] == ["send", "wait"]
    values = _form(staff.client.get(f"/manager/flows/{flow_id}").text)
    assert staff.post(f"/manager/flows/{flow_id}/edit", {**values, "op": "up:1"}).status_code == 303
    assert _flow(staff.db, flow_id).definition["steps"][0] == {"type": "wait", "duration": "P1D"}
    values = _form(staff.client.get(f"/manager/flows/{flow_id}").text)
    assert staff.post(f"/manager/flows/{flow_id}/edit", {**values, "op": "add", "add_type": "tag"}).status_code == 303
    values = _form(staff.client.get(f"/manager/flows/{flow_id}").text)
    values["s2_labels"] = "Buyer, Thanked"
    assert staff.post(f"/manager/flows/{flow_id}/edit", {**values, "op": "remove:0"}).status_code == 303
    steps = _flow(staff.db, flow_id).definition["steps"]
    assert [s["type"] for s in steps] == ["send", "tag"] and steps[1] == {"type": "tag", "add": ["Buyer", "Thanked"]}


def test_errors_name_their_json_path_and_nothing_is_saved(staff: Staff) -> None:
    flow_id = _create(staff, "know_before_you_go")
    before = _flow(staff.db, flow_id).definition
    values = _form(staff.client.get(f"/manager/flows/{flow_id}").text)
    values.update({"s1_duration": "soon", "s0_subject": "", "trigger_offset": "tomorrow", "op": "save"})
    response = staff.post(f"/manager/flows/{flow_id}/edit", values)
    assert response.status_code == 400
    text = _unescape(response.text)
    assert "Not saved: 3 problems." in text
    assert "steps[1].duration: must be an ISO 8601 duration" in text
    assert "steps[0].subject: an email step needs a subject" in text
    assert "trigger.offset: must be an ISO 8601 duration" in text
    # The step's own error is beside it, and what was typed is still in the form.
    step1 = text[text.index('id="step-1"') : text.index('id="step-2"')]
    assert "steps[1].duration" in step1 and 'value="soon"' in step1
    assert _flow(staff.db, flow_id).definition == before


def test_the_json_editor(staff: Staff) -> None:
    flow_id = _create(staff, "welcome")
    document = {**_flow(staff.db, flow_id).definition, "name": "Welcome (JSON)", "reentry": "never"}
    import json

    saved = staff.post(f"/manager/flows/{flow_id}/json", {"document": json.dumps(document)})
    assert saved.status_code == 303 and _flow(staff.db, flow_id).name == "Welcome (JSON)"
    broken = staff.post(f"/manager/flows/{flow_id}/json", {"document": '{"name": "x", "steps": [}'})
    assert broken.status_code == 400 and "not valid JSON" in broken.text and "flow-json-text" in broken.text
    wrong = staff.post(
        f"/manager/flows/{flow_id}/json", {"document": json.dumps({**document, "trigger": {"type": "x"}})}
    )
    assert wrong.status_code == 400 and "trigger.type: must be one of" in _unescape(wrong.text)
    assert _flow(staff.db, flow_id).name == "Welcome (JSON)"


def test_activate_pause_resume(staff: Staff) -> None:
    flow_id = _create(staff, "post_show")
    assert staff.post(f"/manager/flows/{flow_id}/activate").status_code == 303
    flow = _flow(staff.db, flow_id)
    assert flow.status == "active" and flow.activated_at is not None and flow.backfill_since is None
    page = staff.client.get(f"/manager/flows/{flow_id}").text
    assert 'id="pause-flow"' in page and 'id="activate-flow"' not in page
    # An active flow is not edited in place: the service's rule, shown on the page.
    values = _form(page)
    refused = staff.post(f"/manager/flows/{flow_id}/edit", {**values, "name": "Renamed"})
    assert refused.status_code == 400 and "pause the flow before changing it" in refused.text
    again = staff.post(f"/manager/flows/{flow_id}/activate")
    assert again.status_code == 400 and "only a draft flow can be activated" in again.text
    assert staff.post(f"/manager/flows/{flow_id}/pause").status_code == 303
    assert _flow(staff.db, flow_id).status == "paused"
    assert 'id="resume-flow"' in staff.client.get(f"/manager/flows/{flow_id}").text
    assert staff.post(f"/manager/flows/{flow_id}/resume").status_code == 303
    assert _flow(staff.db, flow_id).status == "active"


def test_the_funnel_and_step_figures(staff: Staff) -> None:
    seeded = seed_flow(staff.db, staff.org)
    page = staff.client.get(f"/manager/flows/{seeded.flow_id}").text
    reached = re.findall(r'<tr data-step="(\d)">.*?<td class="num reached">(\d+)</td>', page, re.S)
    assert reached == [("0", "5"), ("1", "4"), ("2", "2"), ("3", "1"), ("4", "1")]
    funnel = page[page.index('id="flow-funnel"') :]
    assert "<svg" in funnel and "1. Send: 5" in funnel and "2. Wait: 4" in funnel
    assert 'id="fig-goal">1<' in page and "$80.00" in page


def test_organizations_and_roles(staff: Staff, db: Database) -> None:
    other = make_tenant(db, "Other Venue", "other")
    theirs = seed_flow(db, other.organization_id, "Theirs")
    assert staff.client.get(f"/manager/flows/{theirs.flow_id}").status_code == 404
    assert staff.post(f"/manager/flows/{theirs.flow_id}/pause").status_code == 404
    assert staff.client.get("/manager/flows/abc").status_code == 404
    assert staff.post("/manager/flows/new", {"template": "nope"}).status_code == 404

    mine = seed_flow(db, staff.org)
    make_user(db, staff.org, "viewer@venue.example", "viewer")
    staff.client.cookies.clear()
    login(staff.client, "viewer@venue.example")
    page = staff.client.get(f"/manager/flows/{mine.flow_id}")
    assert page.status_code == 200 and 'id="flow-editor"' not in page.text and 'id="flow-json-readonly"' in page.text
    token = csrf_of(page.text)
    for path in ("/manager/flows/new", f"/manager/flows/{mine.flow_id}/pause"):
        refused = staff.client.post(path, data={"csrf_token": token, "template": "welcome"}, follow_redirects=False)
        assert refused.status_code == 403, path
    assert _flow(db, mine.flow_id).status == "active"


def test_changing_the_trigger_shows_its_own_fields(staff: Staff) -> None:
    flow_id = _create(staff, "know_before_you_go")
    page = staff.client.get(f"/manager/flows/{flow_id}").text
    assert 'id="trigger-offset"' in page and 'id="trigger-tag"' not in page
    values = {**_form(page), "trigger_type": "tag_added"}
    values.pop("trigger_offset")
    values.pop("trigger_event_ids")
    refused = staff.post(f"/manager/flows/{flow_id}/edit", values)
    assert refused.status_code == 400
    assert "trigger.tag:" in refused.text and 'id="trigger-tag"' in refused.text
    assert 'id="trigger-offset"' not in refused.text
    assert (
        staff.post(f"/manager/flows/{flow_id}/edit", {**_form(refused.text), "trigger_tag": "VIP"}).status_code == 303
    )
    assert _flow(staff.db, flow_id).definition["trigger"] == {"type": "tag_added", "tag": "VIP"}


def test_the_settings_page_sets_quiet_hours_and_the_cap(staff: Staff) -> None:
    from fanhub.organizations.models import Organization

    def stored() -> tuple[str, str, int, str, str]:
        with staff.db.read() as session:
            o = session.get(Organization, staff.org)
            assert o is not None
            return o.quiet_hours_start, o.quiet_hours_end, o.max_messages_per_day, o.over_cap, o.name

    page = staff.client.get("/manager/settings/organization")
    assert 'value="21:00-08:00"' in page.text and 'name="max_messages_per_day" value="2"' in page.text
    base = {"name": "Venue", "time_zone": "Europe/Paris", "phone_region": "FR", "email_days": "5", "sms_days": "1"}
    bad = staff.post(
        "/manager/settings/organization",
        {**base, "name": "", "quiet_hours": "late", "max_messages_per_day": "many", "over_cap": "drop"},
    )
    assert bad.status_code == 400
    assert "Give two 24-hour times such as 21:00-08:00." in bad.text and "from 0 (no cap) to 100" in bad.text
    assert "Give a name" in bad.text  # the organization's own fields are judged in the same pass
    assert stored() == ("21:00", "08:00", 2, "defer", stored()[4])  # nothing saved
    ok = staff.post(
        "/manager/settings/organization",
        {**base, "quiet_hours": "22:00-07:30", "max_messages_per_day": "3", "over_cap": "drop"},
    )
    assert ok.status_code == 303
    assert stored() == ("22:00", "07:30", 3, "drop", "Venue")
    # A form without those fields (an older page) leaves them as they are.
    assert staff.post("/manager/settings/organization", {**base, "name": "Venue 2"}).status_code == 303
    assert stored() == ("22:00", "07:30", 3, "drop", "Venue 2")
