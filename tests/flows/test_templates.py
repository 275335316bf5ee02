"""The five common flows: each is a valid flow document, and its messages render with the campaign
merge fields (a misspelt field would fail here, since the renderer is strict)."""

from __future__ import annotations

import pytest

from fanhub.campaigns.render import CampaignRenderer, Recipient
from fanhub.errors import NotFound
from fanhub.flows.definition import SendStep, validate_definition
from fanhub.flows.templates import TEMPLATES, get_template

EVENT = {
    "organization": "Belly Up",
    "event_name": "Jazz Night",
    "event_url": "https://venue.example/jazz",
    "event_date": "Saturday 10 April 2027",
    "event_time": "8:00 PM",
    "venue": "Main room",
}


def test_the_five_common_flows_are_offered() -> None:
    assert [t.key for t in TEMPLATES] == [
        "order_thank_you",
        "know_before_you_go",
        "post_show",
        "welcome",
        "new_show_alert",
    ]
    assert [validate_definition(t.definition()).trigger.type for t in TEMPLATES] == [
        "order_placed",
        "before_event",
        "after_event",
        "subscribed",
        "event_announced",
    ]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_each_template_validates_and_renders(template) -> None:  # type: ignore[no-untyped-def]
    flow = validate_definition(template.definition())
    assert flow.document() == template.document  # stored as written: nothing dropped or defaulted away
    sends = [s for s in flow.steps if isinstance(s, SendStep)]
    assert sends
    for step in sends:
        renderer = CampaignRenderer(
            channel=step.channel or "email",
            body=step.body,
            subject=step.subject,
            base_context=EVENT if flow.trigger.type != "subscribed" else {"organization": "Belly Up"},
            public_url="https://hub.example",
            links=lambda url: None,
        )
        recipient = Recipient(delivery_id=7, address="jane@example.com", first_name="Jane", email="jane@example.com")
        if step.channel == "sms":
            text = renderer.render_sms(recipient)
            assert "Jazz Night" in text and "STOP" in text
            continue
        email = renderer.render_email(recipient)
        assert "Hi Jane," in email.html
        assert email.unsubscribe_url in email.html  # the template's own footer carries the link
        if flow.trigger.type == "subscribed":
            assert "Belly Up" in email.subject
        else:
            assert "Jazz Night" in email.subject


def test_definitions_are_copies() -> None:
    first = get_template("welcome").definition()
    first["steps"].clear()
    assert get_template("welcome").definition()["steps"]
    with pytest.raises(NotFound, match="no flow template 'nope'"):
        get_template("nope")
