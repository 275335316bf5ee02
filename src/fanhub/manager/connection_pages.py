"""Ticketing connections: connect (credentials are checked by the connector before anything is
saved), status, last sync, counts, last error, "sync now" and the webhook URL to paste into the
platform. The rules are `fanhub.connectors.service`'s; this page only collects and shows.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.auth.users import ADMIN
from fanhub.connectors import service as connectors
from fanhub.connectors.models import Connection
from fanhub.db.base import utcnow
from fanhub.errors import FanhubError, InvalidInput, NotFound
from fanhub.manager.web import Staff, action, database, form_str, html, org_zone, page, path_int, redirect, settings

PLATFORMS = {"tickettailor": "Ticket Tailor", "eventbrite": "Eventbrite", "ticketor": "Ticketor"}


def register(router: APIRouter) -> None:
    page(router, "/settings/connections", ADMIN)(connections_page)
    action(router, "/settings/connections", ADMIN)(connect)
    action(router, "/settings/connections/{connection_id}/sync", ADMIN)(sync_now)


def connections_page(
    request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        rows = connectors.list_connections(session, org)
    for row in rows:
        with database(request).read() as session:
            connection = session.get(Connection, row["id"])
            if connection is not None:
                row["webhook_url"] = connectors.webhook_url(connection, settings(request).public_url)
    values: dict[str, Any] = {"rows": rows, "platforms": PLATFORMS, "errors": {}, "v": {"platform": "tickettailor"}}
    values.update(context or {})
    return html(request, "connections.html", values, user=user, status=status, zone=org_zone(request, org))


def connect(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    platform = form_str(form, "platform")
    base_url = form_str(form, "base_url", 500) or None
    public_url = settings(request).public_url
    v = {k: form_str(form, k, 500) for k in ("platform", "base_url", "site", "username", "client_id", "organization")}
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        return connections_page(request, user, {"errors": {"base_url": "Start the URL with https://"}, "v": v}, 400)
    db = database(request)
    try:
        if platform == "tickettailor":
            api_key = form_str(form, "api_key", 500)
            if not api_key:
                raise InvalidInput("enter the API key", [{"index": None, "field": "api_key", "message": "required"}])
            result = connectors.connect_tickettailor(
                db,
                org,
                api_key,
                webhook_secret=form_str(form, "webhook_secret", 500) or None,
                base_url=base_url,
                public_url=public_url,
            )
        elif platform == "eventbrite":
            token = form_str(form, "token", 500)
            if not token:
                raise InvalidInput(
                    "enter the private token", [{"index": None, "field": "token", "message": "required"}]
                )
            result = connectors.connect_eventbrite(
                db,
                org,
                token,
                eventbrite_organization_id=v["organization"] or None,
                base_url=base_url,
            )
        elif platform == "ticketor":
            missing = [k for k in ("site", "username", "client_id") if not v[k]]
            password = str(form.get("password") or "")[:500]
            if missing or not password:
                raise InvalidInput(
                    "site, username, password and client id are required",
                    [{"index": None, "field": "ticketor", "message": "all four are required"}],
                )
            result = connectors.connect_ticketor(
                db,
                org,
                site=v["site"],
                username=v["username"],
                password=password,
                client_id=v["client_id"],
                base_url=base_url,
                public_url=public_url,
            )
        else:
            raise InvalidInput("choose a platform", [{"index": None, "field": "platform", "message": "required"}])
    except connectors.ChooseOrganization as exc:
        choices = getattr(exc, "organizations", None) or (exc.args[0] if exc.args else [])
        return connections_page(
            request,
            user,
            {
                "errors": {"organization": "This token sees several Eventbrite organizations; choose one."},
                "v": v,
                "eb_choices": choices,
            },
            400,
        )
    except InvalidInput as exc:
        return connections_page(request, user, {"errors": {"_": exc.message}, "v": v}, 400)
    except NotFound:
        raise
    except FanhubError as exc:
        return connections_page(request, user, {"errors": {"_": str(exc)}, "v": v}, 400)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return redirect(
        "/manager/settings/connections",
        f"Connected {PLATFORMS.get(platform, platform)} (connection {result['id']}); the first sync starts now.",
    )


def sync_now(request: Request, user: Staff, form: FormData) -> Response:
    """Make the connection due now; the worker syncs it within seconds (a sync may take minutes)."""
    org = user.organization_id
    connection_id = path_int(request, "connection_id")
    with database(request).write() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.organization_id != org:
            raise NotFound(f"connection {connection_id} not found")
        connection.next_sync_at = utcnow()
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return redirect("/manager/settings/connections", "Sync requested; counts update when it finishes.")
