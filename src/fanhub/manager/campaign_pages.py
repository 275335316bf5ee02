"""Campaign pages: list with analytics, compose and edit (email or SMS) with the segment builder and a
live recipient count and preview, duplicate and delete, test sends to chosen addresses with a chosen
contact's merge fields, schedule / send now after a confirmation, cancel, pause and resume, a live
send status (refreshing while it sends; JSON at `status.json`), and the report (opens, clicks and
attributed revenue over time, links clicked, attributed orders).

An action the campaign's state does not allow (a second "Send now", pausing a finished send) comes
back to the campaign's own page with the rule's message (`campaigns/lifecycle.py`).

Every rule lives in `fanhub.campaigns` (validation, rendering, scheduling, sending, analytics) and
`fanhub.audience.segments` (who is in a segment); these pages only collect the form and show results.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from fanhub.audience.segments import count_audience, validate_segment
from fanhub.audience.service import list_lists, list_tags
from fanhub.audience.vocabulary import genres
from fanhub.auth.users import MARKETER
from fanhub.campaigns.analytics import campaign_analytics, campaign_detail, links_clicked
from fanhub.campaigns.lifecycle import campaign_progress, cancel_campaign, pause_campaign, resume_campaign
from fanhub.campaigns.merge import renderer_for
from fanhub.campaigns.models import Campaign
from fanhub.campaigns.render import Recipient
from fanhub.campaigns.report import revenue_by_campaign
from fanhub.campaigns.schemas import CampaignChanges
from fanhub.campaigns.service import (
    campaign_view,
    create_campaign,
    delete_campaign,
    duplicate_campaign,
    edit_campaign,
    get_campaign,
    list_campaigns,
    parse_send_time,
    preview_campaign,
    schedule_campaign,
    send_test,
)
from fanhub.catalog.queries import event_choices
from fanhub.catalog.repository import EventRepository
from fanhub.db.base import utcnow
from fanhub.deliverability.queries import campaign_deliverability
from fanhub.errors import InvalidInput
from fanhub.manager import charts
from fanhub.manager.report_pages import report_context
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
    page(router, "/campaigns/{campaign_id}/status.json")(status_json)
    page(router, "/campaigns/{campaign_id}/edit", MARKETER)(edit_form)
    action(router, "/campaigns/{campaign_id}/edit", MARKETER)(edit)
    action(router, "/campaigns/{campaign_id}/duplicate", MARKETER)(duplicate)
    action(router, "/campaigns/{campaign_id}/delete", MARKETER)(delete)
    action(router, "/campaigns/{campaign_id}/cancel", MARKETER)(cancel)
    action(router, "/campaigns/{campaign_id}/pause", MARKETER)(pause)
    action(router, "/campaigns/{campaign_id}/resume", MARKETER)(resume)
    action(router, "/campaigns/{campaign_id}/test", MARKETER)(test_send)
    action(router, "/campaigns/{campaign_id}/send", MARKETER)(send)


def campaigns_page(request: Request, user: Staff) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        rows = list_campaigns(session, org)
        figures = {r["campaign_id"]: r for r in campaign_analytics(session, org, PageRequest(1, 100)).items}
        revenue = revenue_by_campaign(session, org, figures)
    return html(
        request,
        "campaigns.html",
        {"rows": rows, "figures": figures, "revenue": revenue, "can_edit": user.can(MARKETER)},
        user=user,
        zone=org_zone(request, org),
    )


def _segment_from(params: Any) -> dict[str, Any]:
    def ids(name: str) -> list[int]:
        return [int(v) for v in params.getlist(name) if str(v).isdigit() and len(str(v)) < 18]

    stars = str(params.get("min_rating") or "")
    segment: dict[str, Any] = {
        "min_rating": int(stars) if stars in ("1", "2", "3", "4", "5") else None,
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
    edit_id: int | None = None,
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
        {"v": form_values, "errors": errors or {}, "counts": counts, "edit_id": edit_id, **choices},
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
            if draft.event_id is not None and not EventRepository(session).owned_ids(org, [draft.event_id]):
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


def _form_values(form: FormData) -> dict[str, Any]:
    event_ids = form_ints(form, "event_id")
    return {
        "type": form_str(form, "type"),
        "name": form_str(form, "name", 400),
        "subject": form_str(form, "subject", 1200),
        "body": str(form.get("body") or "")[:200_000],
        "event_id": event_ids[0] if event_ids else None,
        "segment": _segment_from(form),
    }


def create(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    values = _form_values(form)
    kind = values["type"]
    try:
        with database(request).write() as session:
            campaign = create_campaign(
                session,
                org,
                type=kind,
                name=values["name"],
                body=values["body"],
                subject=values["subject"] if kind == "email" else None,
                audience=values["segment"],
                event_id=values["event_id"],
                created_by=user.actor.audit,
            )
            campaign_id = campaign.id
    except InvalidInput as exc:
        errors = {k.split(".")[0]: v for k, v in field_errors(exc).items()}
        return compose(request, user, values, errors, 400)
    return redirect(f"/manager/campaigns/{campaign_id}", "Draft saved. Check the preview, send a test, then send.")


def edit_form(request: Request, user: Staff) -> Response:
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    with database(request).read() as session:
        view = campaign_view(session, org, campaign_id)
        body = get_campaign(session, org, campaign_id).body
    if "edit" not in view.actions:
        return _back(campaign_id, f"Campaign {campaign_id} is {view.status}; only a draft can be edited.")
    values = {
        "type": view.type,
        "name": view.name,
        "subject": view.subject or "",
        "body": body,
        "event_id": view.event_id,
        "segment": view.audience,
    }
    return compose(request, user, values, edit_id=campaign_id)


def edit(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    values = _form_values(form)
    changes = CampaignChanges(
        name=values["name"],
        subject=values["subject"],
        body=values["body"],
        audience=values["segment"],
        event_id=values["event_id"],
    )
    try:
        with database(request).write() as session:
            kind = get_campaign(session, org, campaign_id).type
            edit_campaign(session, org, campaign_id, changes)
    except InvalidInput as exc:
        errors = {k.split(".")[0]: v for k, v in field_errors(exc).items()}
        if "status" in errors:
            return _back(campaign_id, errors["status"])
        return compose(request, user, {**values, "type": kind}, errors, 400, edit_id=campaign_id)
    return _back(campaign_id, "Changes saved.")


def _back(campaign_id: int, notice: str) -> Response:
    return redirect(f"/manager/campaigns/{campaign_id}", notice)


def _state_change(
    request: Request, user: Staff, change: Callable[[Any, int, int], Any], done: str, wake: bool = False
) -> Response:
    """Run a lifecycle action on the campaign in the path; a refusal is shown on the campaign's page."""
    campaign_id = path_int(request, "campaign_id")
    try:
        with database(request).write() as session:
            change(session, user.organization_id, campaign_id)
    except InvalidInput as exc:
        return _back(campaign_id, exc.message)
    if wake:
        _wake_worker(request)
    return _back(campaign_id, done)


def _wake_worker(request: Request) -> None:
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()


def cancel(request: Request, user: Staff, form: FormData) -> Response:
    return _state_change(request, user, cancel_campaign, "Cancelled. Nothing more will be sent.")


def pause(request: Request, user: Staff, form: FormData) -> Response:
    return _state_change(request, user, pause_campaign, "Paused. Resume to send to the recipients not reached yet.")


def resume(request: Request, user: Staff, form: FormData) -> Response:
    return _state_change(request, user, resume_campaign, "Resumed.", wake=True)


def duplicate(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    with database(request).write() as session:
        copy = duplicate_campaign(session, org, campaign_id, created_by=user.actor.audit)
        copy_id, name = copy.id, copy.name
    return _back(copy_id, f"Copied into a new draft, “{name}”. Edit it, then send.")


def delete(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    try:
        with database(request).write() as session:
            name = get_campaign(session, org, campaign_id).name
            delete_campaign(session, org, campaign_id)
    except InvalidInput as exc:
        return _back(campaign_id, exc.message)
    return redirect("/manager/campaigns", f"Draft “{name}” deleted.")


def status_json(request: Request, user: Staff) -> Response:
    """The send's live status (sent / total, rate, estimated finish) for polling."""
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    with database(request).read() as session:
        progress = campaign_progress(session, org, campaign_id)
    return JSONResponse(progress.model_dump(), headers={"Cache-Control": "no-store"})


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
        campaign = campaign_view(session, org, campaign_id)
        detail = campaign_detail(session, org, campaign_id, interval)
        preview: dict[str, Any] | None = None
        preview_error = None
        if campaign.status in ("draft", "scheduled"):
            try:
                preview = preview_campaign(session, org, campaign_id)
            except InvalidInput as exc:
                preview_error = exc.message
        progress = campaign_progress(session, org, campaign_id) if campaign.delivered_at else None
        links = links_clicked(session, org, campaign_id)
        report = report_context(request, session, org, campaign_id)
        deliverability = campaign_deliverability(session, org, campaign_id)
        zone = org_zone(request, org)
    engagement, revenue = _series_chart(detail)
    return html(
        request,
        "campaign.html",
        {
            "c": campaign,
            "actions": campaign.actions,
            "progress": progress,
            "refresh": _refresh_seconds(campaign.status, campaign.scheduled_at),
            "d": detail,
            "preview": preview,
            "preview_error": preview_error,
            "links": links,
            **report,
            "engagement_chart": engagement,
            "revenue_chart": revenue,
            "can_edit": user.can(MARKETER),
            "interval": interval,
            "deliverability": deliverability,
        },
        user=user,
        zone=zone,
    )


def _refresh_seconds(status: str, scheduled_at: str | None) -> int | None:
    """Reload the page (no script needed) while the send moves: sending, or about to start."""
    if status == "sending":
        return 2
    if status == "scheduled" and scheduled_at is not None:
        due = datetime.fromisoformat(scheduled_at.replace("Z", "+00:00"))
        if (due - utcnow()).total_seconds() < 30:
            return 2
    return None


def test_send(request: Request, user: Staff, form: FormData) -> Response:
    """Send the campaign, marked [TEST], to the addresses given (default: the signed-in user), rendered
    with a chosen contact's merge fields (default: "Test")."""
    campaign_id = path_int(request, "campaign_id")
    to = form_str(form, "to", 4000) or user.email
    contact = form_str(form, "contact", 320) or None
    try:
        result = send_test(database(request), user.organization_id, campaign_id, to=to, contact=contact)
    except InvalidInput as exc:
        return _back(campaign_id, f"No test sent: {exc.message}")
    except Exception as exc:  # the provider refused or is unreachable
        return _back(campaign_id, f"The test could not be sent: {type(exc).__name__}")
    return _back(campaign_id, f"Test sent to {', '.join(result.to)} (as {result.rendered_for}).")


def send(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    campaign_id = path_int(request, "campaign_id")
    when_raw = form_str(form, "at", 40)
    zone = org_zone(request, org)
    try:
        at = parse_send_time(when_raw, zone) if when_raw else None
        with database(request).write() as session:
            scheduled = schedule_campaign(session, org, campaign_id, at).scheduled_at
    except InvalidInput as exc:
        if exc.errors and exc.errors[0].get("field") == "status":
            return _back(campaign_id, exc.message)
        raise
    _wake_worker(request)
    if at is None:
        return _back(campaign_id, "Sending now.")
    local = scheduled.astimezone(ZoneInfo(zone)) if scheduled is not None else None
    return _back(campaign_id, f"Scheduled for {local:%Y-%m-%d %H:%M} ({zone}).")
