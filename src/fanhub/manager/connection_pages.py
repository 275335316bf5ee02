"""Ticketing connections: connect (credentials are checked by the connector before anything is
saved), status, last sync, counts, last error, "sync now" and the webhook URL to paste into the
platform. The rules are `fanhub.connectors.service`'s and the form's fields each platform's
declaration (`fanhub.connectors.registry.PLATFORMS`); this page only collects and shows.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.auth.users import ADMIN
from fanhub.connectors import service as connectors
from fanhub.connectors.connector import ChoiceNeeded, Connector
from fanhub.connectors.registry import PLATFORMS
from fanhub.errors import FanhubError, NotFound
from fanhub.manager.web import Staff, action, database, form_str, html, org_zone, page, path_int, redirect, settings


def register(router: APIRouter) -> None:
    page(router, "/settings/connections", ADMIN)(connections_page)
    action(router, "/settings/connections", ADMIN)(connect)
    action(router, "/settings/connections/{connection_id}/sync", ADMIN)(sync_now)


def _form_platforms() -> list[dict[str, Any]]:
    """Each platform with the fields its connect form asks for, in the registry's order."""
    return [
        {"key": key, "label": connector.label, "fields": [f for f in connector.fields if f.on_form]}
        for key, connector in PLATFORMS.items()
    ]


def connections_page(
    request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        rows = connectors.list_connections(session, org, settings(request).public_url)
    values: dict[str, Any] = {
        "rows": rows,
        "platforms": _form_platforms(),
        "labels": {key: connector.label for key, connector in PLATFORMS.items()},
        "errors": {},
        "v": {"platform": next(iter(PLATFORMS))},
    }
    values.update(context or {})
    return html(request, "connections.html", values, user=user, status=status, zone=org_zone(request, org))


def _form_values(connector: type[Connector], form: FormData) -> dict[str, Any]:
    """The platform's declared fields as posted (the service trims and checks them)."""
    values: dict[str, Any] = {}
    for field in connector.fields:
        if field.repeatable:
            values[field.name] = [str(v)[:500] for v in form.getlist(field.name) if isinstance(v, str)]
        else:
            posted = form.get(field.name)
            values[field.name] = posted[:500] if isinstance(posted, str) else None
    return values


def connect(request: Request, user: Staff, form: FormData) -> Response:
    platform = form_str(form, "platform")
    base_url = form_str(form, "base_url", 500) or None
    # Shown back on an error: what was typed, never a secret.
    v = {"platform": platform, "base_url": base_url or ""}
    v |= {f.name: form_str(form, f.name, 500) for c in PLATFORMS.values() for f in c.fields if not f.secret}
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        return connections_page(request, user, {"errors": {"base_url": "Start the URL with https://"}, "v": v}, 400)
    connector = PLATFORMS.get(platform)
    if connector is None:
        return connections_page(request, user, {"errors": {"_": "choose a platform"}, "v": v}, 400)
    try:
        result = connectors.connect(
            database(request),
            user.organization_id,
            platform,
            _form_values(connector, form),
            base_url=base_url,
            public_url=settings(request).public_url,
        )
    except ChoiceNeeded as exc:
        choice = {"platform": platform, "field": exc.field, "choices": exc.choices, "message": str(exc)}
        return connections_page(request, user, {"errors": {exc.field: str(exc)}, "v": v, "choice": choice}, 400)
    except NotFound:
        raise
    except FanhubError as exc:
        return connections_page(request, user, {"errors": {"_": str(exc)}, "v": v}, 400)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return redirect(
        "/manager/settings/connections",
        f"Connected {connector.label} (connection {result['id']}); the first sync starts now.",
    )


def sync_now(request: Request, user: Staff, form: FormData) -> Response:
    """Make the connection due now; the worker syncs it within seconds (a sync may take minutes)."""
    connectors.request_sync(database(request), user.organization_id, path_int(request, "connection_id"))
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return redirect("/manager/settings/connections", "Sync requested; counts update when it finishes.")
