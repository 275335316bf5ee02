"""Flow (automation) pages: the list with figures, "new from template" for the five common flows,
one flow's page (status with activate / pause / resume, a per-step funnel chart and figures), and
its step-by-step editor (`flow_editor`: plain forms over the flow's JSON document, plus the
document itself as JSON for those who prefer it).

Every rule lives in `fanhub.flows` (validation with JSON paths, activation, pausing: the service;
figures: `flows.analytics`; templates: `flows.templates`); these pages collect forms and show
results. Viewers see flows; marketers create, edit, activate and pause them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.auth.users import MARKETER
from fanhub.db.base import utcnow
from fanhub.errors import InvalidInput
from fanhub.flows import service as flows
from fanhub.flows.analytics import analytics_rows, flow_analytics, revenue_by_flow
from fanhub.flows.templates import TEMPLATES, get_template
from fanhub.manager import charts, flow_editor
from fanhub.manager.web import Staff, action, database, form_str, html, org_zone, page, path_int, redirect
from fanhub.pagination import PageRequest

TRIGGER_LABELS = {
    "order_placed": "Order placed",
    "before_event": "Before an event",
    "after_event": "After an event",
    "subscribed": "Subscribed",
    "tag_added": "Tag added",
    "list_joined": "List joined",
    "event_announced": "Event announced",
}
STEP_LABELS = {
    "send": "Send",
    "wait": "Wait",
    "condition": "Condition",
    "tag": "Add tag",
    "untag": "Remove tag",
    "add_to_list": "Add to list",
}


def register(router: APIRouter) -> None:
    page(router, "/flows")(flows_page)
    action(router, "/flows/new", MARKETER)(create_from_template)
    page(router, "/flows/{flow_id}")(flow_page)
    action(router, "/flows/{flow_id}/edit", MARKETER)(edit)
    action(router, "/flows/{flow_id}/json", MARKETER)(edit_json)
    action(router, "/flows/{flow_id}/activate", MARKETER)(activate)
    action(router, "/flows/{flow_id}/pause", MARKETER)(pause)
    action(router, "/flows/{flow_id}/resume", MARKETER)(resume)


def flows_page(request: Request, user: Staff) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        rows = list(flow_analytics(session, org, PageRequest(1, 100)).items)
        revenue = revenue_by_flow(session, org, [r["id"] for r in rows])
    return html(
        request,
        "flows.html",
        {
            "rows": rows,
            "revenue": revenue,
            "templates": TEMPLATES,
            "trigger_labels": TRIGGER_LABELS,
            "can_edit": user.can(MARKETER),
        },
        user=user,
        zone=org_zone(request, org),
    )


def create_from_template(request: Request, user: Staff, form: FormData) -> Response:
    template = get_template(form_str(form, "template", 40))
    with database(request).write() as session:
        flow = flows.create_flow(session, user.organization_id, template.definition(), created_by=user.actor.audit)
        flow_id = flow.id
    return redirect(
        f"/manager/flows/{flow_id}",
        f"Draft “{template.name}” created from the template; nothing runs until you activate it.",
    )


def flow_page(
    request: Request,
    user: Staff,
    document: dict[str, Any] | None = None,
    errors: list[dict[str, object]] | None = None,
    status: int = 200,
    json_text: str | None = None,
) -> Response:
    """The flow's status, funnel and figures, and its editor showing `document` (the stored one, or
    an unsaved one coming back with the validator's `errors`)."""
    org = user.organization_id
    flow_id = path_int(request, "flow_id")
    with database(request).read() as session:
        flow = flows.get_flow(session, org, flow_id)
        row = analytics_rows(session, [flow])[0]
        revenue = revenue_by_flow(session, org, [flow_id]).get(flow_id, [])
        stored = dict(flow.definition)
    shown = document if document is not None else stored
    steps = [s if isinstance(s, dict) else {} for s in shown.get("steps") or []]
    labels = [f"{s['index'] + 1}. {STEP_LABELS.get(s['type'], s['type'])}" for s in row["steps"]]
    funnel = charts.bar_chart(
        labels, [s["num_entered"] for s in row["steps"]], "Contacts reaching each step", "Reached the step"
    )
    return html(
        request,
        "flow.html",
        {
            "flow": flow,
            "row": row,
            "revenue": revenue,
            "funnel": funnel,
            "doc": shown,
            "steps": [(i, s, flow_editor.step_fields(s)) for i, s in enumerate(steps)],
            "trigger": flow_editor.trigger_fields(shown),
            "errors": flow_editor.errors_by_place(errors or []),
            "error_count": len(errors or []),
            "json_text": json_text if json_text is not None else json.dumps(stored, indent=2, ensure_ascii=False),
            "json_open": json_text is not None,
            "trigger_types": flow_editor.TRIGGER_TYPES,
            "trigger_labels": TRIGGER_LABELS,
            "step_types": flow_editor.STEP_TYPES,
            "step_labels": STEP_LABELS,
            "can_edit": user.can(MARKETER),
        },
        user=user,
        status=status,
        zone=org_zone(request, org),
    )


def _save(request: Request, user: Staff, document: dict[str, Any]) -> list[dict[str, object]] | None:
    """Store the document through the flows service; its validation errors (JSON paths) if refused."""
    try:
        with database(request).write() as session:
            flows.update_flow(session, user.organization_id, path_int(request, "flow_id"), document)
    except InvalidInput as exc:
        return exc.errors or [{"field": "", "message": exc.message}]
    return None


def edit(request: Request, user: Staff, form: FormData) -> Response:
    op = form_str(form, "op", 20) or "save"
    document = flow_editor.apply_operation(flow_editor.document_from_form(form), op, form_str(form, "add_type", 20))
    errors = _save(request, user, document)
    if errors:
        return flow_page(request, user, document, errors, 400)
    flow_id = path_int(request, "flow_id")
    done = {"add": "Step added.", "remove": "Step removed.", "up": "Step moved up.", "down": "Step moved down."}
    response = redirect(f"/manager/flows/{flow_id}", done.get(op.partition(":")[0], "Flow saved."))
    response.headers["location"] += "#editor"  # after the notice's query string, back to the steps
    return response


def edit_json(request: Request, user: Staff, form: FormData) -> Response:
    text = str(form.get("document") or "")[:500_000]
    try:
        document = json.loads(text)
    except ValueError as exc:
        errors: list[dict[str, object]] = [{"field": "", "message": f"not valid JSON: {exc}"}]
        return flow_page(request, user, None, errors, 400, json_text=text)
    errors_or_none = _save(request, user, document)
    if errors_or_none:
        shown = document if isinstance(document, dict) else None
        return flow_page(request, user, shown, errors_or_none, 400, json_text=text)
    return redirect(f"/manager/flows/{path_int(request, 'flow_id')}", "Flow saved.")


def _change(request: Request, user: Staff, change: str) -> Response:
    flow_id = path_int(request, "flow_id")
    operations = {"activate": flows.activate_flow, "pause": flows.pause_flow, "resume": flows.resume_flow}
    try:
        with database(request).write() as session:
            operations[change](session, user.organization_id, flow_id, now=utcnow())
    except InvalidInput as exc:
        return flow_page(request, user, None, exc.errors or [{"field": "", "message": exc.message}], 400)
    notices = {
        "activate": "Flow activated: it reacts to trigger moments from now on.",
        "pause": "Flow paused: enrollments wait where they are until you resume.",
        "resume": "Flow resumed: enrollments continue from where they were.",
    }
    return redirect(f"/manager/flows/{flow_id}", notices[change])


def activate(request: Request, user: Staff, form: FormData) -> Response:
    return _change(request, user, "activate")


def pause(request: Request, user: Staff, form: FormData) -> Response:
    return _change(request, user, "pause")


def resume(request: Request, user: Staff, form: FormData) -> Response:
    return _change(request, user, "resume")
