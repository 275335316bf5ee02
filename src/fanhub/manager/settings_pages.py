"""Settings: partner API keys (token shown once, revoke, last used), users and roles, organization."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fanhub.auth.service import PARTNERS_SCOPE, create_key, list_keys, revoke_key
from fanhub.auth.users import (
    ADMIN,
    ROLES,
    VIEWER,
    create_user,
    list_members,
    remove_membership,
    set_membership,
)
from fanhub.errors import InvalidInput
from fanhub.manager.web import (
    Staff,
    action,
    database,
    field_errors,
    form_str,
    html,
    org_zone,
    page,
    path_int,
    redirect,
    settings,
)
from fanhub.organizations.service import (
    automation_settings,
    get_organization,
    update_automation_settings,
    update_organization,
)


def register(router: APIRouter) -> None:
    page(router, "/settings")(settings_index)
    page(router, "/settings/keys", ADMIN)(keys_page)
    action(router, "/settings/keys", ADMIN)(key_create)
    action(router, "/settings/keys/{key_id}/revoke", ADMIN)(key_revoke)
    page(router, "/settings/users", ADMIN)(users_page)
    action(router, "/settings/users", ADMIN)(user_add)
    action(router, "/settings/users/{user_id}/role", ADMIN)(user_role)
    action(router, "/settings/users/{user_id}/remove", ADMIN)(user_remove)
    page(router, "/settings/organization", VIEWER)(org_page)
    action(router, "/settings/organization", ADMIN)(org_save)


def settings_index(request: Request, user: Staff) -> Response:
    return html(request, "settings.html", {"is_admin": user.can(ADMIN)}, user=user)


def keys_page(request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        keys = [k for k in list_keys(session, org) if PARTNERS_SCOPE in k.scopes.split()]
    values: dict[str, Any] = {"keys": keys, "new_token": None, "errors": {}, "partner": ""}
    values.update(context or {})
    return html(request, "keys.html", values, user=user, status=status, zone=org_zone(request, org))


def key_create(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    partner = form_str(form, "partner", 200)
    if len(partner) > 100:
        return keys_page(request, user, {"errors": {"partner": "At most 100 characters."}, "partner": partner}, 400)
    try:
        with database(request).write() as session:
            key, token = create_key(session, org, partner, PARTNERS_SCOPE)
            key_id = key.id
    except InvalidInput as exc:
        return keys_page(request, user, {"errors": {"partner": exc.message}, "partner": partner}, 400)
    return keys_page(request, user, {"new_token": token, "new_key_id": key_id})


def key_revoke(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    key_id = path_int(request, "key_id")
    with database(request).write() as session:
        revoke_key(session, key_id, organization_id=org)
    return redirect("/manager/settings/keys", f"Key {key_id} revoked; requests with it now get 403.")


def users_page(request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        members = list_members(session, org)
    values: dict[str, Any] = {"members": members, "roles": ROLES, "errors": {}, "email": "", "generated": None}
    values.update(context or {})
    return html(request, "users.html", values, user=user, status=status, zone=org_zone(request, org))


def user_add(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    email = form_str(form, "email", 320)
    role = form_str(form, "role")
    password = str(form.get("password") or "")[:1000] or None
    try:
        with database(request).write() as session:
            created, generated = create_user(session, org, email, role, password)
            created_email = created.email
    except InvalidInput as exc:
        return users_page(request, user, {"errors": field_errors(exc), "email": email}, 400)
    context: dict[str, Any] = {"added": created_email}
    if generated:
        context["generated"] = generated
    return users_page(request, user, context)


def user_role(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    target = path_int(request, "user_id")
    try:
        with database(request).write() as session:
            members = {u.id for u, _ in list_members(session, org)}
            if target not in members:
                from fanhub.errors import NotFound

                raise NotFound("user")
            set_membership(session, org, target, form_str(form, "role"))
    except InvalidInput as exc:
        return users_page(request, user, {"errors": {f"user-{target}": exc.message}}, 400)
    return redirect("/manager/settings/users", "Role updated.")


def user_remove(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    target = path_int(request, "user_id")
    try:
        with database(request).write() as session:
            remove_membership(session, org, target)
    except InvalidInput as exc:
        return users_page(request, user, {"errors": {f"user-{target}": exc.message}}, 400)
    return redirect("/manager/settings/users", "User removed from this organization.")


def org_page(request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        organization = get_organization(session, org)
        values: dict[str, Any] = {
            "name": organization.name,
            "time_zone": organization.time_zone,
            "phone_region": organization.phone_region or "",
            "email_days": organization.email_attribution_days,
            "sms_days": organization.sms_attribution_days,
            "sender_name": organization.sender_name or "",
            "sender_email": organization.sender_email or "",
        }
        automations = automation_settings(organization)
        values.update({name: automations[name] for name in AUTOMATION_FIELDS})
    values.update(
        {
            "errors": {},
            "is_admin": user.can(ADMIN),
            "zones": sorted(available_timezones()),
            "mail_from": settings(request).mail_from,
        }
    )
    values.update(context or {})
    return html(request, "organization.html", values, user=user, status=status)


# The automations' settings (issue 20: SMS quiet hours and the frequency cap), saved with the rest.
AUTOMATION_FIELDS = ("quiet_hours", "max_messages_per_day", "over_cap")


def _days(value: str) -> int:
    # Out-of-range and non-numeric values both fail the service's 1-90 check, which names the field.
    return int(value) if value.isdigit() and len(value) < 4 else 0


def org_save(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    names = ("name", "time_zone", "phone_region", "email_days", "sms_days", "sender_name", "sender_email")
    fields = {name: form_str(form, name, 400) for name in (*names, *AUTOMATION_FIELDS)}
    cap = fields["max_messages_per_day"]
    try:
        with database(request).write() as session:
            problems: list[dict[str, object]] = []
            try:
                update_organization(
                    session,
                    org,
                    name=fields["name"],
                    time_zone=fields["time_zone"],
                    phone_region=fields["phone_region"],
                    email_attribution_days=_days(fields["email_days"]),
                    sms_attribution_days=_days(fields["sms_days"]),
                    sender_name=fields["sender_name"],
                    sender_email=fields["sender_email"],
                )
            except InvalidInput as exc:
                problems += exc.errors
            try:
                # A field the form did not send is left as it is; not a number fails the
                # service's 0-100 check, which names the field.
                update_automation_settings(
                    session,
                    org,
                    max_messages_per_day=(int(cap) if cap.isdigit() and len(cap) < 4 else -1)
                    if "max_messages_per_day" in form
                    else None,
                    quiet_hours=fields["quiet_hours"] if "quiet_hours" in form else None,
                    over_cap=fields["over_cap"] if "over_cap" in form else None,
                )
            except InvalidInput as exc:
                problems += exc.errors
            if problems:  # every problem at once, and nothing saved
                raise InvalidInput("settings", problems)
    except InvalidInput as exc:
        errors = {str(e["field"]): str(e["message"]) for e in exc.errors}
        return org_page(request, user, {"errors": errors, **fields}, 400)
    return redirect("/manager/settings/organization", "Saved.")
