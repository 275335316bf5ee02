"""The data behind sales_chart (a day series of tickets and net revenue) and its PNG rendering."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from fanhub import timeseries
from fanhub.campaigns.analytics import campaign_detail
from fanhub.campaigns.service import get_campaign
from fanhub.catalog.queries import event_currency
from fanhub.mcp import schemas as s
from fanhub.money import to_major, to_minor

Series = list[tuple[date, int, int]]


def day_series(rows: list[dict[str, Any]]) -> tuple[Series, str | None]:
    """Daily (day, tickets, net minor units) of the dominant currency, and that currency."""
    if not rows:
        return [], None
    by_currency: dict[str, int] = {}
    for row in rows:
        by_currency[row["currency_code"]] = by_currency.get(row["currency_code"], 0) + row["tickets_sold"]
    currency = max(sorted(by_currency), key=lambda c: by_currency[c])
    series = [
        (date.fromisoformat(r["day"]), r["tickets_sold"], to_minor(r["net_revenue"], currency) or 0)
        for r in rows
        if r["currency_code"] == currency
    ]
    return series, currency


def campaign_series(session: Session, organization_id: int, campaign_id: int) -> tuple[str, tuple[Series, str | None]]:
    """Attributed tickets and revenue per UTC day, from the campaigns domain's detail time series."""
    campaign = get_campaign(session, organization_id, campaign_id)
    detail = campaign_detail(session, organization_id, campaign_id, interval="day")
    series: Series = [
        (date.fromisoformat(str(point["at"])[:10]), int(point.get("tickets", 0)), int(point.get("revenue", 0)))
        for point in detail["series"].get("attributed_orders", [])
    ]
    currency = None
    if campaign.event_id is not None:
        currency = event_currency(session, organization_id, campaign.event_id)
    return f"Attributed sales: {campaign.name}", (series, currency or "USD")


def _calendar(series: Series, first: date | None, last: date | None) -> Series:
    """The series on a real calendar: every day from `first` (else the first sale) to `last` (else the
    last sale), days without sales at zero, so recent quiet days do not vanish from the chart."""
    if not series and first is None:
        return []
    by_day = {d: (t, c) for d, t, c in series}
    start = first if first is not None else series[0][0]
    end = last if last is not None else series[-1][0]
    if series:
        end = max(end, series[-1][0])
    return [(day, *by_day.get(day, (0, 0))) for day in timeseries.calendar_days(start, end)]


def _buckets(filled: Series) -> tuple[timeseries.Bucket, Series]:
    """Per day, or per week past two months of days (summed; the bucket's first day names it)."""
    bucket = timeseries.bucket_for([d for d, _, _ in filled])
    days = [d for d, _, _ in filled]
    starts, tickets = timeseries.by_bucket(days, [float(t) for _, t, _ in filled], bucket)
    _, cents = timeseries.by_bucket(days, [float(c) for _, _, c in filled], bucket)
    return bucket, [(d, int(t), int(c)) for d, t, c in zip(starts, tickets, cents, strict=True)]


def render_chart(
    title: str, subject: str, data: tuple[Series, str | None], window: tuple[date | None, date | None] = (None, None)
) -> tuple[bytes, s.ChartInfo]:
    """The chart over `window` (first, last day; None: the first or last sale), quiet days at zero."""
    import matplotlib  # imported on first chart: it is slow to import and most sessions draw none

    matplotlib.use("Agg")
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series, currency = data
    filled = _calendar(series, *window)
    figure = Figure(figsize=(8, 4), dpi=100)
    axis = figure.add_subplot(1, 1, 1)
    axis.set_title(title)
    total_tickets = sum(t for _, t, _ in filled)
    total_cents = sum(c for _, _, c in filled)
    if filled:
        bucket, bars = _buckets(filled)
        days: Any = [d for d, _, _ in bars]  # matplotlib plots dates; its stubs say numbers
        width = 6 if bucket == "week" else 0.8
        axis.bar(days, [t for _, t, _ in bars], width=width, color="#4C72B0", label="tickets sold")
        axis.set_ylabel(f"tickets sold per {bucket}")
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # never 0.25 of a ticket
        axis.xaxis.set_major_formatter(DateFormatter("wk %b %d" if bucket == "week" else "%b %d"))
        cumulative, running = [], 0
        for _, _, cents in bars:
            running += cents
            cumulative.append(to_major(running, currency or "USD") or 0.0)
        revenue_axis = axis.twinx()
        revenue_axis.plot(days, cumulative, color="#DD8452", marker="o", label="cumulative net revenue")
        revenue_axis.set_ylabel(f"cumulative net revenue ({currency})")
        figure.autofmt_xdate()
    else:
        axis.text(0.5, 0.5, "no sales in this period", ha="center", va="center", transform=axis.transAxes)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    png = buffer.getvalue()
    info = s.ChartInfo(
        title=title,
        subject=subject,
        days=len(filled),
        currency_code=currency,
        tickets_sold=total_tickets,
        net_revenue=to_major(total_cents, currency or "USD"),
        png_bytes=len(png),
    )
    return png, info
