"""Data rights in the manager (admins only): a contact's "Download data" (the JSON document of
`privacy/export.py`), its "Erase" (a confirmation page, then a POST; `privacy/erase.py`), and the
audit page (`/manager/audit`) listing exports, erasures and suppression removals, newest first.

Every download and erasure is audited by the privacy services as the signed-in staff member.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.audience.queries import get_contact
from fanhub.auth.users import ADMIN
from fanhub.manager.web import Staff, action, database, html, org_zone, page, path_int, query_int, redirect
from fanhub.privacy.service import audit_page, erase_request, export_request


def register(router: APIRouter) -> None:
    page(router, "/contacts/{contact_id}/export.json", ADMIN)(download)
    page(router, "/contacts/{contact_id}/erase", ADMIN)(erase_confirm)
    action(router, "/contacts/{contact_id}/erase", ADMIN)(erase)
    page(router, "/audit", ADMIN)(audit_log)


def download(request: Request, user: Staff) -> Response:
    contact_id = path_int(request, "contact_id")
    with database(request).write() as session:
        document = export_request(session, user.organization_id, user.actor.audit, contact_id=contact_id)
    return Response(
        json.dumps(document, indent=2, default=str),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}.json"',
            "Cache-Control": "no-store",
        },
    )


def erase_confirm(request: Request, user: Staff) -> Response:
    org = user.organization_id
    contact_id = path_int(request, "contact_id")
    with database(request).read() as session:
        contact = get_contact(session, org, contact_id)
    return html(request, "contact_erase.html", {"c": contact}, user=user, zone=org_zone(request, org))


def erase(request: Request, user: Staff, form: FormData) -> Response:
    contact_id = path_int(request, "contact_id")
    with database(request).write() as session:
        result = erase_request(session, user.organization_id, user.actor.audit, contact_id=contact_id)
    changed = sum(result["erased"].values())
    return redirect(
        f"/manager/contacts/{contact_id}",
        f"Contact {contact_id} erased ({changed} records changed). Their addresses stay only as hashes on the"
        " suppression list; orders and campaign figures are kept, anonymous.",
    )


def audit_log(request: Request, user: Staff) -> Response:
    org = user.organization_id
    number = max(1, query_int(request, "page", 1) or 1)
    with database(request).read() as session:
        result: dict[str, Any] = audit_page(session, org, page=number, privacy_only=True)
    return html(request, "audit.html", result, user=user, zone=org_zone(request, org))
