"""The data behind sales_chart (a day series of tickets and net revenue) and its PNG rendering."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

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


def _calendar(series: Series) -> Series:
    """The series with the days without sales filled in, so the bars sit on a real calendar."""
    filled: Series = []
    if series:
        by_day = {d: (t, c) for d, t, c in series}
        day, last = series[0][0], series[-1][0]
        while day <= last:
            tickets, cents = by_day.get(day, (0, 0))
            filled.append((day, tickets, cents))
            day += timedelta(days=1)
    return filled


def render_chart(title: str, subject: str, data: tuple[Series, str | None]) -> tuple[bytes, s.ChartInfo]:
    import matplotlib  # imported on first chart: it is slow to import and most sessions draw none

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    series, currency = data
    filled = _calendar(series)
    figure = Figure(figsize=(8, 4), dpi=100)
    axis = figure.add_subplot(1, 1, 1)
    axis.set_title(title)
    total_tickets = sum(t for _, t, _ in filled)
    total_cents = sum(c for _, _, c in filled)
    if filled:
        days: Any = [d for d, _, _ in filled]  # matplotlib plots dates; its stubs say numbers
        axis.bar(days, [t for _, t, _ in filled], color="#4C72B0", label="tickets sold")
        axis.set_ylabel("tickets sold per day")
        cumulative, running = [], 0
        for _, _, cents in filled:
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
