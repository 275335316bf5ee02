"""Time series as people read them: every day of the window, whole-number count axes, labels per bucket.

Shared by the manager's SVG charts and MCP's PNG charts so both draw the same thing: a series over
"the last 30 days" covers all 30 days up to today, days without a sale are zeros (not missing, which
made recent quiet days vanish), a count axis steps by whole numbers (never 0.25 tickets), and a
long window is drawn per week with week labels rather than hundreds of day bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Literal

Bucket = Literal["day", "week"]
# Beyond this many days a chart groups by week: a bar per day stops being readable.
MAX_DAY_BARS = 62


def calendar_days(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included (empty when `last` is before `first`)."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def zero_filled(values: Mapping[date, float], days: Sequence[date]) -> list[float]:
    """The value of each day, 0 where the series has none."""
    return [float(values.get(day, 0)) for day in days]


def bucket_for(days: Sequence[date]) -> Bucket:
    return "week" if len(days) > MAX_DAY_BARS else "day"


def week_start(day: date) -> date:
    """The Monday of the day's ISO week."""
    return day - timedelta(days=day.weekday())


def by_bucket(days: Sequence[date], values: Sequence[float], bucket: Bucket) -> tuple[list[date], list[float]]:
    """Sum daily values per bucket; each bucket is named by its first day (the Monday for weeks)."""
    if bucket == "day":
        return list(days), list(values)
    starts: list[date] = []
    sums: list[float] = []
    for day, value in zip(days, values, strict=True):
        start = week_start(day)
        if not starts or starts[-1] != start:
            starts.append(start)
            sums.append(0.0)
        sums[-1] += value
    return starts, sums


def label(day: date, bucket: Bucket) -> str:
    """ "Dec 05" for a day, "wk Dec 01" for the week starting that Monday."""
    text = f"{day:%b} {day.day:02d}"
    return f"wk {text}" if bucket == "week" else text


def count_axis(largest: float, gridlines: int = 4) -> tuple[float, float]:
    """(top, step) for an axis of counts: whole-number steps, at most `gridlines` of them, top ≥ largest."""
    if largest <= 0:
        return 1.0, 1.0
    raw_step = largest / gridlines
    magnitude = 10 ** math.floor(math.log10(raw_step)) if raw_step >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    step = max(1, step)
    return float(step * math.ceil(largest / step)), float(step)
