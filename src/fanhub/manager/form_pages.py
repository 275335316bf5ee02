"""The manager's signup forms page (/manager/forms): every form with its hosted URL, its embeddable
HTML and its submissions by state, and a form to create one (marketers). The rules are
`forms.service`'s; this module parses the form and renders `forms.html`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.audience.service import list_lists
from fanhub.auth.users import MARKETER
from fanhub.errors import InvalidInput
from fanhub.forms.pages import embed_html
from fanhub.forms.service import FIELDS, FormSpec, create_form, form_url, list_forms
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
    redirect,
)
from fanhub.manager.web import settings as app_settings

PATH = "/manager/forms"


def register(router: APIRouter) -> None:
    page(router, "/forms")(forms_page)
    action(router, "/forms", MARKETER)(create)


def forms_page(request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    org = user.organization_id
    settings = app_settings(request)
    with database(request).read() as session:
        rows = [
            {"form": form, "url": form_url(settings, form), "embed": embed_html(settings, form), "counts": counts}
            for form, counts in list_forms(session, org)
        ]
        lists = list_lists(session, org)
    values: dict[str, Any] = {
        "rows": rows,
        "lists": lists,
        "all_fields": FIELDS,
        "can_edit": user.can(MARKETER),
        "errors": {},
        "posted": {"fields": ["email"]},
    }
    values.update(context or {})
    return html(request, "forms.html", values, user=user, status=status, zone=org_zone(request, org))


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def create(request: Request, user: Staff, form: FormData) -> Response:
    event = form_str(form, "event_id", 20)
    fields = [str(v) for v in form.getlist("fields")]
    spec = FormSpec(
        name=form_str(form, "name", 200),
        fields=["email", *fields],
        list_ids=form_ints(form, "list_ids"),
        tags=_split(form_str(form, "tags", 1000)),
        genres=_split(form_str(form, "genres", 1000)),
        event_id=int(event) if event.isdigit() else None,
        double_opt_in=form.get("double_opt_in") == "1",
        consent_text=form_str(form, "consent_text", 2000) or None,
        sms_consent_text=form_str(form, "sms_consent_text", 2000) or None,
    )
    try:
        if event and not event.isdigit():
            raise InvalidInput(
                "event: give an event id", [{"field": "event", "message": "give an event id (a number)"}]
            )
        with database(request).write() as session:
            created = create_form(session, user.organization_id, spec, user.actor.audit)
            name, form_id = created.name, created.id
    except InvalidInput as exc:
        posted = {**spec.__dict__, "event_id": event, "tags": ", ".join(spec.tags), "genres": ", ".join(spec.genres)}
        return forms_page(request, user, {"errors": field_errors(exc), "posted": posted}, 400)
    return redirect(PATH, f"Form {form_id}, “{name}”, created: share its link or paste its HTML into your site.")
