"""The five common flows as ready-made definitions: what "new from template" starts a draft with.

Each template is a JSON document in issue 20's format (the one `flows.definition` validates and the
manager's editor edits), built only from the campaign merge fields (`campaigns/render.MERGE_FIELDS`):
`first_name`, `event_name`, `event_date`, `event_time`, `venue`, `event_url`, `organization`,
`unsubscribe_url`. The event fields are the trigger's event (the ordered, reminded or announced
show); the welcome flow has no event, so it uses none. A template is a starting point: every
`definition()` call returns a fresh copy for the caller to change.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fanhub.errors import NotFound


@dataclass(frozen=True)
class FlowTemplate:
    key: str
    name: str
    description: str
    document: dict[str, Any]

    def definition(self) -> dict[str, Any]:
        """A fresh copy of the template's JSON document (callers edit it)."""
        return copy.deepcopy(self.document)


_FOOTER = (
    '<p style="font-size:12px">You get this from {{ organization }}. '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)

ORDER_THANK_YOU = FlowTemplate(
    key="order_thank_you",
    name="Order thank-you",
    description="Thanks every buyer right after an order, with the show's date, time and venue.",
    document={
        "name": "Order thank-you",
        "channel_order": ["email"],
        "trigger": {"type": "order_placed", "event_ids": []},
        "steps": [
            {
                "type": "send",
                "channel": "email",
                "subject": "Thanks for your order: {{ event_name }}",
                "body": "<p>Hi {{ first_name or 'there' }},</p>"
                "<p>Thank you for your tickets to <strong>{{ event_name }}</strong> on {{ event_date }} at "
                "{{ event_time }}, {{ venue }}. We can't wait to see you.</p>"
                '<p><a href="{{ event_url }}">Show details</a></p>' + _FOOTER,
            }
        ],
        "reentry": "per_trigger",
    },
)

KNOW_BEFORE_YOU_GO = FlowTemplate(
    key="know_before_you_go",
    name="Know before you go",
    description="The day before the show: an email with the practical details, then an SMS for VIPs.",
    document={
        "name": "Know before you go",
        "channel_order": ["email", "sms"],
        "trigger": {"type": "before_event", "offset": "P1D", "event_ids": []},
        "steps": [
            {
                "type": "send",
                "channel": "email",
                "subject": "Tomorrow: {{ event_name }}",
                "body": "<p>Hi {{ first_name or 'there' }},</p>"
                "<p><strong>{{ event_name }}</strong> is tomorrow, {{ event_date }}. Doors at {{ event_time }} "
                "at {{ venue }}. Bring your ticket on your phone and a photo ID.</p>"
                '<p><a href="{{ event_url }}">Directions and show details</a></p>' + _FOOTER,
            },
            {"type": "wait", "duration": "PT4H"},
            {"type": "condition", "segment": {"tags": ["VIP"]}, "otherwise": "exit"},
            {
                "type": "send",
                "channel": "sms",
                "body": "{{ event_name }} tomorrow: doors at {{ event_time }}, {{ venue }}. Reply STOP to opt out.",
            },
            {"type": "tag", "add": ["Reminded"]},
        ],
        "reentry": "per_trigger",
    },
)

POST_SHOW = FlowTemplate(
    key="post_show",
    name="Post-show",
    description="The morning after the show: thanks for coming, and what is on next.",
    document={
        "name": "Post-show",
        "channel_order": ["email"],
        "trigger": {"type": "after_event", "offset": "PT6H", "event_ids": []},
        "steps": [
            {"type": "wait", "until": "10:00"},
            {
                "type": "send",
                "channel": "email",
                "subject": "Thanks for coming to {{ event_name }}",
                "body": "<p>Hi {{ first_name or 'there' }},</p>"
                "<p>Thank you for joining us at {{ venue }} for <strong>{{ event_name }}</strong>. "
                "We hope you had a great night.</p>"
                "<p>See what is on next at {{ organization }}.</p>" + _FOOTER,
            },
        ],
        "reentry": "per_trigger",
    },
)

WELCOME = FlowTemplate(
    key="welcome",
    name="Welcome",
    description="Welcomes a new email subscriber, and follows up three days later if they did not open it.",
    document={
        "name": "Welcome",
        "channel_order": ["email"],
        "trigger": {"type": "subscribed", "channel": "email"},
        "steps": [
            {
                "type": "send",
                "channel": "email",
                "subject": "Welcome to {{ organization }}",
                "body": "<p>Hi {{ first_name or 'there' }},</p>"
                "<p>Thanks for signing up. You will be the first to hear about new shows, presales and "
                "offers from {{ organization }}.</p>" + _FOOTER,
            },
            {"type": "wait", "duration": "P3D"},
            {"type": "condition", "opened_previous": False, "otherwise": "exit"},
            {
                "type": "send",
                "channel": "email",
                "subject": "Still there? Your first shows at {{ organization }}",
                "body": "<p>Hi {{ first_name or 'there' }},</p>"
                "<p>Here is what is coming up at {{ organization }}: have a look at the calendar and "
                "find your next night out.</p>" + _FOOTER,
            },
        ],
        "reentry": "never",
    },
)

NEW_SHOW_ALERT = FlowTemplate(
    key="new_show_alert",
    name="New show alert",
    description="Tells fans of a genre or artist when a matching show is announced; stops once they buy.",
    document={
        "name": "New show alert",
        "channel_order": ["email"],
        "trigger": {"type": "event_announced", "match": "both"},
        "steps": [
            {
                "type": "send",
                "channel": "email",
                "subject": "Just announced: {{ event_name }}",
                "body": "<p>Hi {{ first_name or 'there' }},</p>"
                "<p><strong>{{ event_name }}</strong> is coming to {{ venue }} on {{ event_date }}. "
                "We thought you would want to know first.</p>"
                '<p><a href="{{ event_url }}">Get tickets</a></p>' + _FOOTER,
            }
        ],
        "exit": {"bought_event": "trigger"},
        "reentry": "per_trigger",
    },
)

TEMPLATES: tuple[FlowTemplate, ...] = (ORDER_THANK_YOU, KNOW_BEFORE_YOU_GO, POST_SHOW, WELCOME, NEW_SHOW_ALERT)
_BY_KEY = {t.key: t for t in TEMPLATES}


def get_template(key: str) -> FlowTemplate:
    """The template named `key` (NotFound naming it otherwise)."""
    found = _BY_KEY.get(key)
    if found is None:
        raise NotFound(f"no flow template {key!r}; known: {', '.join(_BY_KEY)}")
    return found
