"""The time rules of a flow step, in the organization's time zone (pure functions, `now` given).

- Quiet hours: no SMS from `quiet_hours_start` to `quiet_hours_end` local time (21:00-08:00 by
  default; a window may cross midnight, or not: 13:00-14:00). A step that falls inside waits for
  the window's end.
- Frequency cap: at most `max_messages_per_day` marketing messages (campaigns and flows, every
  channel) per contact per local calendar day; a step over it is deferred to the next local
  midnight, or dropped when the flow (or the organization's default) says `drop`. 0 means no cap.
- `wait until HH:MM`: the next such local time strictly after now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fanhub.flows.definition import parse_clock


@dataclass(frozen=True)
class OrgRules:
    """An organization's settings as the engine reads them."""

    zone: ZoneInfo
    quiet_start: time
    quiet_end: time
    max_per_day: int
    over_cap: str  # defer | drop

    @classmethod
    def of(cls, organization: object) -> OrgRules:
        return cls(
            zone=ZoneInfo(getattr(organization, "time_zone", None) or "UTC"),
            quiet_start=parse_clock(getattr(organization, "quiet_hours_start", None) or "21:00"),
            quiet_end=parse_clock(getattr(organization, "quiet_hours_end", None) or "08:00"),
            max_per_day=int(getattr(organization, "max_messages_per_day", 2)),
            over_cap=getattr(organization, "over_cap", None) or "defer",
        )


def _at(zone: ZoneInfo, day: datetime, clock: time) -> datetime:
    """The instant of `clock` on the local date of `day` (a clock time skipped by a DST jump is
    taken as the instant after it, as zoneinfo's fold=0 does)."""
    local = datetime(day.year, day.month, day.day, clock.hour, clock.minute, tzinfo=zone)
    return local.astimezone(UTC)


def in_quiet_hours(rules: OrgRules, now: datetime) -> bool:
    if rules.quiet_start == rules.quiet_end:
        return False  # an empty window: no quiet hours
    local = now.astimezone(rules.zone).time()
    if rules.quiet_start < rules.quiet_end:
        return rules.quiet_start <= local < rules.quiet_end
    return local >= rules.quiet_start or local < rules.quiet_end


def quiet_hours_end(rules: OrgRules, now: datetime) -> datetime:
    """When SMS may go again: `now` outside quiet hours, else the window's end."""
    if not in_quiet_hours(rules, now):
        return now
    local = now.astimezone(rules.zone)
    end_today = _at(rules.zone, local, rules.quiet_end)
    return end_today if end_today > now else _at(rules.zone, local + timedelta(days=1), rules.quiet_end)


def local_day(rules: OrgRules, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the organization's calendar day holding `now`, as UTC instants."""
    local = now.astimezone(rules.zone)
    start = _at(rules.zone, local, time(0, 0))
    tomorrow = (local.replace(hour=12) + timedelta(days=1)).astimezone(rules.zone)
    return start, _at(rules.zone, tomorrow, time(0, 0))


def next_clock(rules: OrgRules, now: datetime, clock: time) -> datetime:
    """The next instant after `now` showing `clock` on the organization's wall clock."""
    local = now.astimezone(rules.zone)
    today = _at(rules.zone, local, clock)
    if today > now:
        return today
    return _at(rules.zone, (local.replace(hour=12) + timedelta(days=1)), clock)
