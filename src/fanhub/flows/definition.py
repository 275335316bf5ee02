"""A flow's JSON document (issue 20) as Pydantic models, and its validation with JSON paths.

```json
{"name": "...", "channel_order": ["email", "sms"],
 "trigger": {"type": "before_event", "offset": "P1D", "event_ids": []},
 "steps": [{"type": "send", "channel": "email", "subject": "...", "body": "..."},
           {"type": "wait", "duration": "PT4H"}, {"type": "wait", "until": "10:00"},
           {"type": "condition", "segment": {"tags": ["VIP"]}, "bought_event": "trigger",
            "opened_previous": true, "clicked_previous": false, "otherwise": "exit"},
           {"type": "tag", "add": ["Reminded"]}, {"type": "untag", "remove": ["Prospect"]},
           {"type": "add_to_list", "list_id": 3}],
 "exit": {"bought_event": "trigger"}, "reentry": "per_trigger", "over_cap": "drop"}
```

- Triggers: `order_placed` / `before_event` / `after_event` take `event_ids` (fanhub ids; empty or
  missing = every event); the event triggers take an ISO 8601 `offset` (`P1D`, `PT6H`);
  `subscribed` a `channel`; `tag_added` a `tag`; `list_joined` a `list_id`; `event_announced` a
  `match` (genres | interests | both, default both).
- `send`: `channel` email or sms; without one, the first channel of `channel_order` the contact is
  subscribed on when the step runs. Email needs a `subject`. Merge fields are the campaigns'.
- `wait`: exactly one of `duration` (ISO 8601, down to seconds) or `until` ("HH:MM", the next such
  local time in the organization's time zone).
- `condition`: holds when every given check holds: the `segment` (the campaigns' format), and
  `bought_event` ("trigger" or an event id), `opened_previous` / `clicked_previous` (the last send
  step's message was opened / clicked, compared with the boolean given). Otherwise `exit` ends the
  enrollment, `skip` skips the step right after the condition.
- `exit`: `{"bought_event": "trigger" | <event id>}`, checked before each step.
- `reentry`: `never` (default: once per contact, ever) or `per_trigger`.
- `over_cap`: `defer` or `drop`; missing = the organization's setting.

Every problem is reported with its JSON path (`steps[2].duration`, `trigger.offset`), all at once.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from fanhub.audience.segments import validate_segment
from fanhub.errors import InvalidInput

Channel = Literal["email", "sms"]
TRIGGER_TYPES = (
    "order_placed",
    "before_event",
    "after_event",
    "subscribed",
    "tag_added",
    "list_joined",
    "event_announced",
)
STEP_TYPES = ("send", "wait", "condition", "tag", "untag", "add_to_list")
EVENT_TRIGGERS = ("before_event", "after_event")
_DURATION = TypeAdapter(timedelta)
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_duration(value: str) -> timedelta:
    """An ISO 8601 duration ("P1D", "PT4H30M", "PT90S"); ValueError otherwise."""
    if not isinstance(value, str) or not value.startswith(("P", "-P")):
        raise ValueError("must be an ISO 8601 duration such as P1D or PT4H")
    try:
        return _DURATION.validate_python(value)
    except ValidationError as exc:
        raise ValueError("must be an ISO 8601 duration such as P1D or PT4H (years and months are not allowed)") from exc


def parse_clock(value: str) -> time:
    """A local time of day "HH:MM"; ValueError otherwise."""
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError('must be a time of day "HH:MM" (24-hour)')
    return time(int(match.group(1)), int(match.group(2)))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


EventIds = Annotated[list[Annotated[int, Field(gt=0)]], Field(default_factory=list)]


class OrderPlaced(_Strict):
    type: Literal["order_placed"]
    event_ids: EventIds


class EventTime(_Strict):
    type: Literal["before_event", "after_event"]
    offset: str = "PT0S"
    event_ids: EventIds

    @field_validator("offset")
    @classmethod
    def _offset(cls, value: str) -> str:
        if parse_duration(value) < timedelta(0):
            raise ValueError("must not be negative (before_event counts back from the start)")
        return value

    @property
    def offset_delta(self) -> timedelta:
        return parse_duration(self.offset)


class Subscribed(_Strict):
    type: Literal["subscribed"]
    channel: Channel


class TagAdded(_Strict):
    type: Literal["tag_added"]
    tag: Annotated[str, Field(min_length=1, max_length=100)]


class ListJoined(_Strict):
    type: Literal["list_joined"]
    list_id: Annotated[int, Field(gt=0)]


class EventAnnounced(_Strict):
    type: Literal["event_announced"]
    match: Literal["genres", "interests", "both"] = "both"


Trigger = OrderPlaced | EventTime | Subscribed | TagAdded | ListJoined | EventAnnounced
_TRIGGER_MODELS: dict[str, type[_Strict]] = {
    "order_placed": OrderPlaced,
    "before_event": EventTime,
    "after_event": EventTime,
    "subscribed": Subscribed,
    "tag_added": TagAdded,
    "list_joined": ListJoined,
    "event_announced": EventAnnounced,
}


class SendStep(_Strict):
    type: Literal["send"]
    channel: Channel | None = None
    subject: Annotated[str, Field(max_length=998)] | None = None
    body: Annotated[str, Field(min_length=1)]


class WaitStep(_Strict):
    type: Literal["wait"]
    duration: str | None = None
    until: str | None = None

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("until")
    @classmethod
    def _until(cls, value: str | None) -> str | None:
        if value is not None:
            parse_clock(value)
        return value


BoughtEvent = Literal["trigger"] | Annotated[int, Field(gt=0)]


class ConditionStep(_Strict):
    type: Literal["condition"]
    segment: dict[str, Any] | None = None
    bought_event: BoughtEvent | None = None
    opened_previous: bool | None = None
    clicked_previous: bool | None = None
    otherwise: Literal["exit", "skip"] = "exit"


Labels = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1)]


class TagStep(_Strict):
    type: Literal["tag"]
    add: Labels


class UntagStep(_Strict):
    type: Literal["untag"]
    remove: Labels


class AddToListStep(_Strict):
    type: Literal["add_to_list"]
    list_id: Annotated[int, Field(gt=0)]


Step = SendStep | WaitStep | ConditionStep | TagStep | UntagStep | AddToListStep
_STEP_MODELS: dict[str, type[_Strict]] = {
    "send": SendStep,
    "wait": WaitStep,
    "condition": ConditionStep,
    "tag": TagStep,
    "untag": UntagStep,
    "add_to_list": AddToListStep,
}


class ExitGoal(_Strict):
    bought_event: BoughtEvent


class _Top(_Strict):
    """The document's own fields; trigger and steps are validated one by one (paths name each)."""

    name: Annotated[str, Field(min_length=1, max_length=300)]
    channel_order: Annotated[list[Channel], Field(min_length=1, max_length=2)] = ["email", "sms"]
    trigger: dict[str, Any]
    steps: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=50)]
    exit: ExitGoal | None = None
    reentry: Literal["never", "per_trigger"] = "never"
    over_cap: Literal["defer", "drop"] | None = None


class FlowDefinition(BaseModel):
    """A validated flow document; `document()` gives back its JSON (what is stored)."""

    model_config = ConfigDict(frozen=True)

    name: str
    channel_order: list[Channel]
    trigger: Trigger
    steps: list[Step]
    exit: ExitGoal | None = None
    reentry: Literal["never", "per_trigger"] = "never"
    over_cap: Literal["defer", "drop"] | None = None

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "literal[", "constrained-", "int", "str", "bool", "list[", "dict[")):
            continue  # pydantic's union branch names, not JSON keys
        else:
            path += f".{part}" if path else part
    return path


def _collect(errors: list[dict[str, object]], prefix: str, exc: ValidationError) -> None:
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        field = _path(prefix, tuple(error["loc"]))
        if field in seen:
            continue  # one message per path (a union reports each branch)
        seen.add(field)
        message = str(error["msg"]).removeprefix("Value error, ")
        if field.endswith("bought_event") and error["type"] == "literal_error":
            message = 'must be "trigger" or an event id'
        errors.append({"index": None, "field": field, "message": message})


def _typed(errors: list[dict[str, object]], path: str, raw: Any, models: dict[str, type[_Strict]]) -> Any:
    if not isinstance(raw, dict):
        errors.append({"index": None, "field": path, "message": "must be an object"})
        return None
    kind = raw.get("type")
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None:
        errors.append({"index": None, "field": f"{path}.type", "message": f"must be one of {', '.join(models)}"})
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        _collect(errors, path, exc)
        return None


def _check_steps(errors: list[dict[str, object]], steps: list[Any]) -> None:
    """Rules across fields the models cannot say alone."""
    for index, step in enumerate(steps):
        path = f"steps[{index}]"
        if isinstance(step, WaitStep) and (step.duration is None) == (step.until is None):
            errors.append(
                {"index": None, "field": f"{path}.duration", "message": "give exactly one of duration or until"}
            )
        if isinstance(step, SendStep) and step.channel == "email" and not (step.subject or "").strip():
            errors.append({"index": None, "field": f"{path}.subject", "message": "an email step needs a subject"})
        if isinstance(step, ConditionStep):
            if step.segment is not None:
                try:
                    validate_segment(step.segment, f"{path}.segment")
                except InvalidInput as exc:
                    errors.extend(exc.errors)
            checks = (step.segment, step.bought_event, step.opened_previous, step.clicked_previous)
            if all(check is None for check in checks):
                errors.append({"index": None, "field": path, "message": "a condition needs at least one check"})
            if (step.opened_previous is not None or step.clicked_previous is not None) and not any(
                isinstance(s, SendStep) for s in steps[:index]
            ):
                errors.append(
                    {
                        "index": None,
                        "field": path,
                        "message": "opened_previous/clicked_previous need a send step before",
                    }
                )


def validate_definition(document: Any) -> FlowDefinition:
    """The validated flow, or InvalidInput listing every problem with its JSON path."""
    errors: list[dict[str, object]] = []
    if not isinstance(document, dict):
        raise InvalidInput(
            "flow: must be a JSON object", [{"index": None, "field": "", "message": "must be an object"}]
        )
    try:
        top = _Top.model_validate(document)
    except ValidationError as exc:
        _collect(errors, "", exc)
        top = None
    trigger = _typed(errors, "trigger", document.get("trigger"), _TRIGGER_MODELS) if "trigger" in document else None
    raw_steps = document.get("steps")
    steps = (
        [_typed(errors, f"steps[{i}]", raw, _STEP_MODELS) for i, raw in enumerate(raw_steps)]
        if isinstance(raw_steps, list)
        else []
    )
    _check_steps(errors, steps)
    uses_trigger_event = (top is not None and top.exit is not None and top.exit.bought_event == "trigger") or any(
        isinstance(s, ConditionStep) and s.bought_event == "trigger" for s in steps
    )
    if uses_trigger_event and trigger is not None and trigger.type in ("subscribed", "tag_added", "list_joined"):
        errors.append(
            {
                "index": None,
                "field": "exit.bought_event",
                "message": f'"trigger" needs an event; {trigger.type} has none',
            }
        )
    if errors or top is None or trigger is None:
        first = errors[0] if errors else {"field": "", "message": "invalid"}
        raise InvalidInput(f"{first['field']}: {first['message']}", errors)
    return FlowDefinition(
        name=top.name,
        channel_order=list(dict.fromkeys(top.channel_order)),
        trigger=trigger,
        steps=steps,
        exit=top.exit,
        reentry=top.reentry,
        over_cap=top.over_cap,
    )
