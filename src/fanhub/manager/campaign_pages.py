"""Campaign pages: list with analytics, compose (email or SMS) with the segment builder and a live
recipient count and preview, test send to oneself, schedule / send now after a confirmation, and the
report (opens, clicks and attributed revenue over time, links clicked, attributed orders).

Every rule lives in `fanhub.campaigns` (validation, rendering, scheduling, sending, analytics) and
`fanhub.audience.segments` (who is in a segment); these pages only collect the form and show results.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from fanhub.audience.segments import count_audience, validate_segment
from fanhub.audience.service import list_lists, list_tags
from fanhub.audience.vocabulary import genres
from fanhub.auth.users import MARKETER
from fanhub.campaigns.analytics import attributed_orders, campaign_analytics, campaign_detail, links_clicked
from fanhub.campaigns.models import Campaign
from fanhub.campaigns.render import Recipient
from fanhub.campaigns.service import (
    create_campaign,
    get_campaign,
    list_campaigns,
    preview_campaign,
    renderer_for,
    schedule_campaign,
)
from fanhub.catalog.models import Event
from fanhub.catalog.queries import event_choices
from fanhub.config import get_settings
from fanhub.errors import InvalidInput
from fanhub.manager import charts
from fanhub.manager.web import (
    Staff,
    action,
    database,
    field_errors,
    form_ints,
    form_str,
    html,
    org_zone,
    page,
    path_int,
    redirect,
)
from fanhub.organizations.service import get_organization, sender_address
from fanhub.pagination import PageRequest

SAMPLE = Recipient(
    delivery_id=0, address="fan@example.com", first_name="Alex", last_name="Fan", email="fan@example.com"
)


def register(router: APIRouter) -> None:
    page(router, "/campaigns")(campaigns_page)
    page(router, "/campaigns/new")(compose)
    page(router, "/campaigns/audience-count")(audience_count)
    action(router, "/campaigns/preview", MARKETER)(live_preview)
    action(router, "/campaigns", MARKETER)(create)
    page(router, "/campaigns/{campaign_id}")(campaign_page)
    action(router, "/campaigns/{campaign_id}/test", MARKETER)(send_test)
    action(router, "/campaigns/{campaign_id}/send", MARKETER)(send)


def campaigns_page(request: Request, user: Staff) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        rows = list_campaigns(session, org)
        figures = {r["campaign_id"]: r for r in campaign_analytics(session, org, PageRequest(1, 100)).items}
    return html(
        request,
        "campaigns.html",
        {"rows": rows, "figures": figures, "can_edit": user.can(MARKETER)},
        user=user,
        zone=org_zone(request, org),
    )


def _segment_from(params: Any) -> dict[str, list[Any]]:
    def ids(name: str) -> list[int]:
        return [int(v) for v in params.getlist(name) if str(v).isdigit() and len(str(v)) < 18]

    segment: dict[str, list[Any]] = {
        "tags": [str(v)[:200] for v in params.getlist("tags") if str(v).strip()],
        "list_ids": ids("list_ids"),
        "genres": [str(v)[:60] for v in params.getlist("genres") if str(v).strip()],
        "bought_event_ids": ids("bought_event_ids"),
        "interested_event_ids": ids("interested_event_ids"),
    }
    return {k: v for k, v in segment.items() if v}


def _choices(session: Any, organization_id: int) -> dict[str, Any]:
    events = event_choices(session, organization_id)
    return {
        "tags": list_tags(session, organization_id),
        "lists": list_lists(session, organization_id),
        "genres": genres(),
        "events": events,
    }


def compose(
    request: Request,
    user: Staff,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    org = user.organization_id
    if not user.can(MARKETER):
        from fanhub.manager.web import Forbidden

        raise Forbidden("Composing campaigns needs the marketer role.")
    kind = request.query_params.get("type", "email")
    form_values: dict[str, Any] = {
        "type": kind if kind in ("email", "sms") else "email",
        "name": "",
        "subject": "",
        "body": "",
        "event_id": None,
        "segment": {},
    }
    form_values.update(values or {})
    if form_values["type"] not in ("email", "sms"):
        form_values["type"] = "email"
    with database(request).read() as session:
        choices = _choices(session, org)
        try:
            counts = count_audience(session, org, form_values["segment"])
        except InvalidInput:
            counts = {"email": 0, "sms": 0}
    return html(
        request,
        "campaign_new.html",
        {"v": form_values, "errors": errors or {}, "counts": counts, **choices},
        user=user,
        status=status,
        zone=org_zone(request, org),
    )


def audience_count(request: Request, user: Staff) -> Response:
    org = user.organization_id
    channel = request.query_params.get("type", "email")
    channel = channel if channel in ("email", "sms") else "email"
    try:
        segment = validate_segment(_segment_from(request.query_params))
        with database(request).read() as session:
            counts = count_audience(session, org, segment)
    except InvalidInput as exc:
        return JSONResponse({"error": exc.message, "text": exc.message})
    text = f"{counts[channel]:,} {channel} recipients (email {counts['email']:,} · SMS {counts['sms']:,})"
    return JSONResponse({**counts, "text": text}, headers={"Cache-Control": "no-store"})


def live_preview(request: Request, user: Staff, form: FormData) -> Response:
    """The email as a recipient would see it, rendered from the unsaved form (for the preview frames)."""
    org = user.organization_id
    kind = form_str(form, "type")
    event_ids = form_ints(form, "event_id")
    draft = Campaign(
        organization_id=org,
        type=kind if kind in ("email", "sms") else "email",
        name="preview",
        subject=form_str(form, "subject", 998),
        body=str(form.get("body") or "")[:200_000],
        event_id=event_ids[0] if event_ids else None,
    )
    try:
        with database(request).read() as session:
            if draft.event_id is not None:
                event = session.get(Event, draft.event_id)
                if event is None or event.organization_id != org:
                    draft.event_id = None
            renderer = renderer_for(session, draft)
            if draft.type == "email":
                rendered = renderer.render_email(SAMPLE)
                markup = rendered.html
            else:
                from html import escape

                text = escape(renderer.render_sms(SAMPLE))
                markup = f"<pre style='white-space:pre-wrap;font:16px sans-serif'>{text}</pre>"
    except InvalidInput as exc:
        from html import escape

        markup = f"<p style='color:#b91c1c;font:14px sans-serif'>{escape(exc.message)}</p>"
    return HTMLResponse(markup, headers={"Cache-Control": "no-store", "Content-Security-Policy": "script-src 'none'"})


def create(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    kind = form_str(form, "type")
    event_ids = form_ints(form, "event_id")
    segment = _segment_from(form)
    name = form_str(form, "name", 400)
    subject = form_str(form, "subject", 1200)
    body = str(form.get("body") or "")[:200_000]
    event_id = event_ids[0] if event_ids else None
    values: dict[str, Any] = {
        "type": kind,
        "name": name,
        "subject": subject,
        "body": body,
        "event_id": event_id,
        "segment": segment,
    }
    try:
        with database(request).write() as session:
            campaign = create_campaign(
                session,
                org,
                type=kind,
                name=name,
                body=body,
                subject=subject if kind == "email" else None,
                audience=segment,
                event_id=event_id,
                created_by=user.actor.audit,
            )
            campaign_id = campaign.id
    except InvalidInput as exc:
        errors = {k.split(".")[0]: v for k, v in field_errors(exc).items()}
        return compose(request, user, values, errors, 400)
    return redirect(f"/manager/campaigns/{campaign_id}", "Draft saved. Check the preview, send a test, then send.")


def _series_chart(detail: dict[str, Any]) -> tuple[Any, Any]:
    series = detail["series"]
    labels = sorted({p["at"] for name in ("opens", "clicks", "attributed_orders") for p in series[name]})
    if not labels:
        return None, None

    def values(name: str, key: str, scale: float = 1.0) -> list[float]:
        by_at = {p["at"]: p.get(key, 0) for p in series[name]}
        return [float(by_at.get(at, 0)) / scale for at in labels]

    short = [at[5:10] if detail.get("interval") == "day" else at[5:13].replace("T", " ") + "h" for at in labels]
    engagement = charts.line_chart(
        short,
        [("Opens", values("opens", "count")), ("Clicks", values("clicks", "count"))],
        "Opens and clicks over time",
    )
    revenue = charts.bar_chart(
        short, values("attributed_orders", "revenue", 100.0), "Attributed revenue over time", "Attributed revenue"
    )
    return engagement, revenue


def campaign_page(request: Request, user: Staff) -> Response:
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    interval = request.query_params.get("interval", "day")
    interval = interval if interval in ("day", "hour") else "day"
    with database(request).read() as session:
        campaign = get_campaign(session, org, campaign_id)
        detail = campaign_detail(session, org, campaign_id, interval)
        preview: dict[str, Any] | None = None
        preview_error = None
        if campaign.status in ("draft", "scheduled"):
            try:
                preview = preview_campaign(session, org, campaign_id)
            except InvalidInput as exc:
                preview_error = exc.message
        links = links_clicked(session, org, campaign_id)
        orders = attributed_orders(session, org, campaign_id)
        zone = org_zone(request, org)
    engagement, revenue = _series_chart(detail)
    return html(
        request,
        "campaign.html",
        {
            "c": campaign,
            "d": detail,
            "preview": preview,
            "preview_error": preview_error,
            "links": links,
            "orders": orders,
            "engagement_chart": engagement,
            "revenue_chart": revenue,
            "can_edit": user.can(MARKETER),
            "interval": interval,
        },
        user=user,
        zone=zone,
    )


def send_test(request: Request, user: Staff, form: FormData) -> Response:
    """Render the campaign for the signed-in user and send it to their own address (email only)."""
    from fanhub.campaigns.sending import Message, build_email, email_transport

    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    settings = get_settings()
    with database(request).read() as session:
        campaign = get_campaign(session, org, campaign_id)
        if campaign.type != "email":
            raise InvalidInput("test sends are for email campaigns; preview SMS text on this page")
        rendered = renderer_for(session, campaign).render_email(
            Recipient(delivery_id=0, address=user.email, email=user.email, first_name="Test")
        )
        sender = sender_address(get_organization(session, org), settings)
    rendered.subject = "[TEST] " + rendered.subject
    message = build_email(
        mail_from=sender,
        to_name=None,
        to_address=user.email,
        rendered=rendered,
        message_id=f"<test-{secrets.token_hex(8)}@fanhub.local>",
        campaign_id=campaign_id,
    )
    transport = email_transport(settings)
    try:
        transport.push(Message(campaign_id, 0, user.email, sender=parseaddr(sender)[1], body=message))
    except Exception as exc:
        return redirect(f"/manager/campaigns/{campaign_id}", f"The test could not be sent: {type(exc).__name__}")
    finally:
        transport.close()
    return redirect(f"/manager/campaigns/{campaign_id}", f"Test sent to {user.email}.")


def send(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    when_raw = form_str(form, "at", 40)
    at: datetime | None = None
    if when_raw:
        zone = org_zone(request, org)
        try:
            at = datetime.fromisoformat(when_raw).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        except ValueError:
            raise InvalidInput(f"{when_raw!r} is not a date and time") from None
    with database(request).write() as session:
        campaign = schedule_campaign(session, org, campaign_id, at)
        scheduled = campaign.scheduled_at
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    notice = "Sending now." if at is None else f"Scheduled for {scheduled:%Y-%m-%d %H:%M} UTC."
    return redirect(f"/manager/campaigns/{campaign_id}", notice)
