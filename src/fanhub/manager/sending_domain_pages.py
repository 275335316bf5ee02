"""Settings → Sending domains (admins): add a domain, the four DNS records to publish, and a DNS
check showing each record's state (`organizations.sending_domains`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.auth.users import ADMIN
from fanhub.errors import InvalidInput
from fanhub.manager.web import Staff, action, database, field_errors, form_str, html, org_zone, page, path_int, redirect
from fanhub.manager.web import settings as app_settings
from fanhub.organizations.dns_checks import lookup
from fanhub.organizations.sending_domains import (
    add_sending_domain,
    dns_records,
    list_sending_domains,
    records_for_check,
    return_path_domain,
    save_check,
)

PATH = "/manager/settings/sending-domains"
# How a state is shown: the badge class (manager.css) and a word for people.
STATE_BADGES = {"ok": "applied", "missing": "paused", "wrong": "failed", "error": "failed"}


def register(router: APIRouter) -> None:
    page(router, "/settings/sending-domains", ADMIN)(domains_page)
    action(router, "/settings/sending-domains", ADMIN)(domain_add)
    action(router, "/settings/sending-domains/{domain_id}/check", ADMIN)(domain_check)


def domains_page(request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    settings = app_settings(request)
    with database(request).read() as session:
        domains = []
        for domain in list_sending_domains(session, user.actor):
            checks = {str(c.get("purpose")): c for c in domain.check_results or []}
            rows = [{"record": r, "check": checks.get(r.purpose)} for r in dns_records(domain, settings)]
            domains.append({"domain": domain, "rows": rows, "return_path": return_path_domain(domain.domain, settings)})
    values: dict[str, Any] = {
        "domains": domains,
        "badges": STATE_BADGES,
        "errors": {},
        "new_domain": "",
        "bounce_address": settings.bounce_address,
        "dns_resolver": settings.dns_resolver,
    }
    values.update(context or {})
    zone = org_zone(request, user.organization_id)
    return html(request, "sending_domains.html", values, user=user, status=status, zone=zone)


def domain_add(request: Request, user: Staff, form: FormData) -> Response:
    domain = form_str(form, "domain", 300)
    try:
        with database(request).write() as session:
            added = add_sending_domain(session, user.actor, domain).domain
    except InvalidInput as exc:
        return domains_page(request, user, {"errors": field_errors(exc), "new_domain": domain}, 400)
    return redirect(PATH, f"{added} added: publish its four records below, then check DNS.")


def domain_check(request: Request, user: Staff, form: FormData) -> Response:
    domain_id = path_int(request, "domain_id")
    with database(request).read() as session:
        records = records_for_check(session, user.actor, domain_id)
    # Outside any transaction: a slow DNS answer must not hold the database's write lock.
    checks = lookup(records, app_settings(request).dns_resolver)
    with database(request).write() as session:
        name = save_check(session, user.actor, domain_id, checks).domain
    good = sum(check.state == "ok" for check in checks)
    response = redirect(PATH, f"DNS checked for {name}: {good} of {len(checks)} records ok.")
    response.headers["location"] += f"#domain-{domain_id}"  # the fragment after the notice's query
    return response
