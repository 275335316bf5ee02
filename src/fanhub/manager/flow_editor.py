"""The manager's step-by-step flow editor as plain forms: form fields <-> the flow's JSON document.

The editor is one HTML form over the whole document (no script needed): top-level fields, the
trigger's fields, then one fieldset per step (`s<i>_<field>`). Its buttons name an operation in
`op`: `save`, `add` (a step of `add_type` at the end), `up:<i>`, `down:<i>`, `remove:<i>`. Every
operation first reads the whole form back into a document, so nothing typed is lost, then moves
steps around; `flows.definition` (through the flows service) then judges the result and its errors
name their JSON path (`steps[2].duration`), which the page shows beside the step concerned.

Values are copied as typed: a number field that is not a number stays text, so the validator
names its path instead of this module guessing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from fanhub.manager.web import form_str

STEP_TYPES = ("send", "wait", "condition", "tag", "untag", "add_to_list")
TRIGGER_TYPES = (
    "order_placed",
    "before_event",
    "after_event",
    "subscribed",
    "tag_added",
    "list_joined",
    "event_announced",
)
CHANNEL_ORDERS = {"email,sms": ["email", "sms"], "sms,email": ["sms", "email"], "email": ["email"], "sms": ["sms"]}
MAX_STEPS = 50
BODY_LIMIT = 200_000

# What "Add step" appends: a valid step of that type, for the marketer to change.
NEW_STEPS: dict[str, dict[str, Any]] = {
    "send": {
        "type": "send",
        "channel": "email",
        "subject": "News from {{ organization }}",
        "body": "<p>Hi {{ first_name or 'there' }},</p>\n<p></p>",
    },
    "wait": {"type": "wait", "duration": "P1D"},
    "condition": {"type": "condition", "segment": {"tags": ["VIP"]}, "otherwise": "exit"},
    "tag": {"type": "tag", "add": ["Engaged"]},
    "untag": {"type": "untag", "remove": ["Prospect"]},
    "add_to_list": {"type": "add_to_list", "list_id": 1},
}


def _number(text: str) -> int | str:
    """An integer when the text is one (within 64 bits), else the text for the validator to name."""
    return int(text) if text.isdigit() and len(text) < 19 else text


def _numbers(text: str) -> list[int | str]:
    return [_number(part.strip()) for part in text.split(",") if part.strip()]


def _words(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _flag(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text)


def _bought(text: str) -> int | str | None:
    return None if not text else ("trigger" if text == "trigger" else _number(text))


def _trigger(form: FormData) -> dict[str, Any]:
    kind = form_str(form, "trigger_type", 40)
    trigger: dict[str, Any] = {"type": kind}
    if kind in ("order_placed", "before_event", "after_event"):
        trigger["event_ids"] = _numbers(form_str(form, "trigger_event_ids"))
    if kind in ("before_event", "after_event"):
        trigger["offset"] = form_str(form, "trigger_offset", 40) or "PT0S"
    if kind == "subscribed":
        trigger["channel"] = form_str(form, "trigger_channel", 10) or "email"
    if kind == "tag_added":
        trigger["tag"] = form_str(form, "trigger_tag", 200)
    if kind == "list_joined":
        trigger["list_id"] = _number(form_str(form, "trigger_list_id", 40))
    if kind == "event_announced":
        trigger["match"] = form_str(form, "trigger_match", 20) or "both"
    return trigger


def _step(form: FormData, i: int) -> dict[str, Any]:
    def get(name: str, limit: int = 1000) -> str:
        return form_str(form, f"s{i}_{name}", limit)

    kind = get("type", 20)
    step: dict[str, Any] = {"type": kind}
    if kind == "send":
        channel, subject = get("channel", 10), get("subject", 998)
        if channel:
            step["channel"] = channel
        if channel == "email" or (subject and channel != "sms"):  # SMS has no subject
            step["subject"] = subject
        step["body"] = str(form.get(f"s{i}_body") or "")[:BODY_LIMIT]
    elif kind == "wait":
        key = "until" if get("wait_kind", 10) == "until" else "duration"
        step[key] = get(key, 40)
    elif kind == "condition":
        segment_text = get("segment", 5000)
        if segment_text:
            try:
                step["segment"] = json.loads(segment_text)
            except ValueError:
                step["segment"] = segment_text  # the validator names steps[i].segment
        for name in ("opened_previous", "clicked_previous"):
            if _flag(get(name, 5)) is not None:
                step[name] = _flag(get(name, 5))
        if _bought(get("bought_event", 40)) is not None:
            step["bought_event"] = _bought(get("bought_event", 40))
        step["otherwise"] = get("otherwise", 10) or "exit"
    elif kind in ("tag", "untag"):
        step["add" if kind == "tag" else "remove"] = _words(get("labels", 2000))
    elif kind == "add_to_list":
        step["list_id"] = _number(get("list_id", 40))
    return step


def document_from_form(form: FormData) -> dict[str, Any]:
    """The flow document the editor's fields describe (as typed; the validator judges it)."""
    count = _number(form_str(form, "step_count", 5))
    steps = [_step(form, i) for i in range(min(count, MAX_STEPS) if isinstance(count, int) else 0)]
    document: dict[str, Any] = {
        "name": form_str(form, "name", 300),
        "channel_order": CHANNEL_ORDERS.get(form_str(form, "channel_order", 20), ["email", "sms"]),
        "trigger": _trigger(form),
        "steps": steps,
        "reentry": form_str(form, "reentry", 20) or "never",
    }
    goal = _bought(form_str(form, "exit_bought_event", 40))
    if goal is not None:
        document["exit"] = {"bought_event": goal}
    if form_str(form, "over_cap", 10):
        document["over_cap"] = form_str(form, "over_cap", 10)
    return document


def apply_operation(document: dict[str, Any], op: str, add_type: str = "") -> dict[str, Any]:
    """The document after the editor's operation (`save` and unknown operations change nothing)."""
    steps: list[dict[str, Any]] = list(document.get("steps") or [])
    action, _, index_text = op.partition(":")
    index = int(index_text) if index_text.isdigit() else -1
    if action == "add" and add_type in NEW_STEPS and len(steps) < MAX_STEPS:
        steps.append(json.loads(json.dumps(NEW_STEPS[add_type])))
    elif action == "remove" and 0 <= index < len(steps):
        del steps[index]
    elif action == "up" and 0 < index < len(steps):
        steps[index - 1], steps[index] = steps[index], steps[index - 1]
    elif action == "down" and 0 <= index < len(steps) - 1:
        steps[index], steps[index + 1] = steps[index + 1], steps[index]
    return {**document, "steps": steps}


def errors_by_place(errors: list[dict[str, object]]) -> dict[str, list[str]]:
    """Validator errors grouped for the page: "steps[2]" for a step's, "trigger", or "flow" for the rest;
    each message starts with its JSON path."""
    out: dict[str, list[str]] = {}
    for error in errors:
        path = str(error.get("field") or "")
        message = f"{path}: {error.get('message')}" if path else str(error.get("message"))
        if path.startswith("steps["):
            place = path[: path.index("]") + 1]
        elif path.startswith("trigger"):
            place = "trigger"
        else:
            place = "flow"
        out.setdefault(place, []).append(message)
    return out


def step_fields(step: Mapping[str, Any]) -> dict[str, str]:
    """A step's values as the editor's inputs show them."""
    segment = step.get("segment")
    labels = step.get("add") if step.get("type") == "tag" else step.get("remove")

    def flag(value: Any) -> str:
        return "" if value is None else ("yes" if value is True else "no")

    return {
        "channel": str(step.get("channel") or ""),
        "subject": str(step.get("subject") or ""),
        "body": str(step.get("body") or ""),
        "wait_kind": "until" if "until" in step else "duration",
        "duration": str(step.get("duration") or ""),
        "until": str(step.get("until") or ""),
        "segment": "" if segment is None else (segment if isinstance(segment, str) else json.dumps(segment)),
        "opened_previous": flag(step.get("opened_previous")),
        "clicked_previous": flag(step.get("clicked_previous")),
        "bought_event": "" if step.get("bought_event") is None else str(step.get("bought_event")),
        "otherwise": str(step.get("otherwise") or "exit"),
        "labels": ", ".join(str(v) for v in labels) if isinstance(labels, list) else str(labels or ""),
        "list_id": "" if step.get("list_id") is None else str(step.get("list_id")),
    }


def trigger_fields(document: Mapping[str, Any]) -> dict[str, str]:
    trigger = document.get("trigger") if isinstance(document.get("trigger"), dict) else {}
    assert isinstance(trigger, dict)
    ids = trigger.get("event_ids")
    goal = (document.get("exit") or {}).get("bought_event") if isinstance(document.get("exit"), dict) else None
    order = document.get("channel_order")
    return {
        "type": str(trigger.get("type") or ""),
        "event_ids": ", ".join(str(v) for v in ids) if isinstance(ids, list) else "",
        "offset": str(trigger.get("offset") or ""),
        "channel": str(trigger.get("channel") or "email"),
        "tag": str(trigger.get("tag") or ""),
        "list_id": "" if trigger.get("list_id") is None else str(trigger.get("list_id")),
        "match": str(trigger.get("match") or "both"),
        "exit_bought_event": "" if goal is None else str(goal),
        "channel_order": ",".join(order) if isinstance(order, list) else "email,sms",
        "reentry": str(document.get("reentry") or "never"),
        "over_cap": str(document.get("over_cap") or ""),
    }
