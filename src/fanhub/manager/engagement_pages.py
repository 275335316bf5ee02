"""Settings → Sunset (`/manager/settings/sunset`): the organization's sunset setting (suppress email
subscribers who stopped engaging), shown to every role, changed by admins, beside the distribution of
engagement ratings. The setting and its validation are `organizations/service.py`; what sunset does,
`deliverability/sunset.py`; the ratings, `deliverability/engagement.py`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.auth.users import ADMIN, VIEWER
from fanhub.deliverability.engagement import rating_counts
from fanhub.errors import InvalidInput
from fanhub.manager.web import Staff, action, database, field_errors, form_str, html, page, redirect
from fanhub.organizations.service import get_organization, sunset_settings, update_sunset_settings

PATH = "/manager/settings/sunset"


def register(router: APIRouter) -> None:
    page(router, "/settings/sunset", VIEWER)(sunset_page)
    action(router, "/settings/sunset", ADMIN)(sunset_save)


def sunset_page(request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        values: dict[str, Any] = sunset_settings(get_organization(session, org))
        counts = rating_counts(session, org)
    values.update({"errors": {}, "is_admin": user.can(ADMIN), **counts})
    values.update(context or {})
    return html(request, "sunset.html", values, user=user, status=status)


def _number(value: str) -> int:
    # Non-numeric and absurd values both fail the service's range check, which names the field.
    return int(value) if value.isdigit() and len(value) < 6 else 0


def sunset_save(request: Request, user: Staff, form: FormData) -> Response:
    enabled = form_str(form, "sunset_enabled", 8) == "on"
    after, days = form_str(form, "sunset_after_emails", 10), form_str(form, "sunset_min_days", 10)
    try:
        with database(request).write() as session:
            update_sunset_settings(
                session, user.organization_id, enabled=enabled, after_emails=_number(after), min_days=_number(days)
            )
    except InvalidInput as exc:
        typed = {"sunset_enabled": enabled, "sunset_after_emails": after, "sunset_min_days": days}
        return sunset_page(request, user, {"errors": field_errors(exc), **typed}, 400)
    return redirect(PATH, "Saved: sunset is on." if enabled else "Saved: sunset is off.")
