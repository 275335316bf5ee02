"""Audience pages: the contacts table (search, filters, keyset pages, bulk tag / add to list, CSV
export), the contact page (identities, sources, consent timeline, orders, deliveries), tags and lists."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import FormData

from fanhub.addresses import display_phone
from fanhub.audience import reports, vocabulary
from fanhub.audience.consent import EMAIL, SMS, ConsentChange
from fanhub.audience.contact_edit import EDITABLE_FIELDS, edit_contact, remove_label
from fanhub.audience.labels import LIST, TAG, LabelChange, change_labels
from fanhub.audience.queries import STATUSES, ContactFilter, get_contact
from fanhub.audience.service import (
    change_consent,
    create_list,
    create_tag,
    list_lists,
    list_tags,
    tag_ids_by_name,
)
from fanhub.audience.vocabulary import genres
from fanhub.auth.users import MARKETER, VIEWER
from fanhub.campaigns.history import contact_campaign_history
from fanhub.catalog.queries import event_choices, list_orders
from fanhub.db.base import utcnow
from fanhub.errors import InvalidInput, NotFound
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
    query_int,
    redirect,
)
from fanhub.organizations import audit
from fanhub.organizations.service import get_organization
from fanhub.pagination import PageRequest

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def register(router: APIRouter) -> None:
    page(router, "/contacts")(contacts)
    page(router, "/contacts/export.csv")(export_contacts)
    action(router, "/contacts/bulk", MARKETER)(bulk)
    page(router, "/contacts/{contact_id}")(contact_detail)
    action(router, "/contacts/{contact_id}/consent", MARKETER)(contact_consent)
    action(router, "/contacts/{contact_id}/edit", MARKETER)(contact_edit)
    action(router, "/contacts/{contact_id}/labels/remove", MARKETER)(contact_label_remove)
    page(router, "/tags")(vocabulary_page)
    action(router, "/tags", MARKETER)(create_vocabulary)
    action(router, "/tags/{kind}/{item_id}/rename", MARKETER)(rename_vocabulary)
    action(router, "/tags/{kind}/{item_id}/delete", MARKETER)(delete_vocabulary)


def contacts(request: Request, user: Staff) -> Response:
    org = user.organization_id
    f = ContactFilter.from_params(request.query_params)
    after = query_int(request, "after")
    with database(request).read() as session:
        rows, next_cursor = reports.contacts_page(session, org, f, after)
        tags, lists = reports.labels_for(session, [c.id for c in rows])
        contact_genres = reports.genres_for(session, [c.id for c in rows])
        # Always shown: the count is served by the filter's indexes (< 150 ms at a million contacts).
        count = reports.count_contacts_matching(session, org, f)
        region = get_organization(session, org).phone_region
        all_tags = list_tags(session, org)
        all_lists = list_lists(session, org)
        events = event_choices(session, org)
    return html(
        request,
        "contacts.html",
        {
            "rows": rows,
            "tags": tags,
            "lists": lists,
            "contact_genres": contact_genres,
            "phones": {c.id: display_phone(c.phone, region) for c in rows},
            "f": f,
            "params": f.params(),
            "next_cursor": next_cursor,
            "after": after,
            "count": count,
            "all_tags": all_tags,
            "all_lists": all_lists,
            "genres": genres(),
            "statuses": STATUSES,
            "can_edit": user.can(MARKETER),
            "events": events,
        },
        user=user,
        zone=org_zone(request, org),
    )


def export_contacts(request: Request, user: Staff) -> Response:
    org = user.organization_id
    f = ContactFilter.from_params(request.query_params)
    db = database(request)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            [
                "id",
                "email",
                "phone",
                "first_name",
                "last_name",
                "full_name",
                "address",
                "postal_code",
                "birthday",
                "email_status",
                "sms_status",
                "tags",
                "lists",
                "created_at",
            ]
        )
        with db.read() as session:
            batch = []
            for contact in reports.iter_contacts(session, org, f):
                batch.append(contact)
                if len(batch) == 1000:
                    yield from _export_batch(session, batch, writer, buffer)
                    batch = []
            yield from _export_batch(session, batch, writer, buffer)

    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="contacts-{stamp}.csv"', "Cache-Control": "no-store"},
    )


def _export_batch(session, batch, writer, buffer) -> Iterator[str]:  # type: ignore[no-untyped-def]
    tags, lists = reports.labels_for(session, [c.id for c in batch])
    for c in batch:
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    c.id,
                    c.email,
                    c.phone,
                    c.first_name,
                    c.last_name,
                    c.full_name,
                    c.address,
                    c.postal_code,
                    c.birthday,
                    c.email_status,
                    c.sms_status,
                    "; ".join(tags.get(c.id, [])),
                    "; ".join(lists.get(c.id, [])),
                    c.created_at.isoformat(),
                )
            ]
        )
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    if value:
        yield value


def bulk(request: Request, user: Staff, form: FormData) -> Response:
    ids = form_ints(form, "contact_id")
    what, _, raw_target = form_str(form, "bulk_target").partition(":")
    target = [int(raw_target)] if raw_target.isdigit() and len(raw_target) < 18 else []
    back = form_str(form, "back", 2000)
    back = back if back.startswith("/manager/contacts") else "/manager/contacts"
    if not ids or not target:
        return redirect(back, "Select contacts and a tag or list first.")
    if what not in (TAG, LIST):
        raise InvalidInput("choose tag or list")
    with database(request).write() as session:
        change = change_labels(session, user.actor, what, target[0], ids, add=True)
    message = LabelChange.describe[(what, True)].format(n=len(change.contact_ids), name=change.name)
    return redirect(back, message)


def contact_detail(request: Request, user: Staff, edit: dict[str, Any] | None = None, status: int = 200) -> Response:
    org = user.organization_id
    contact_id = path_int(request, "contact_id")
    with database(request).read() as session:
        contact = get_contact(session, org, contact_id, with_ledger=True)
        orders = list_orders(session, org, PageRequest(1, 50), contact_id=contact_id).items
        deliveries = contact_campaign_history(session, org, contact_id)
        edits = audit.contact_entries(session, org, contact_id)
        tag_ids = tag_ids_by_name(session, org, contact["tags"])
        phone = display_phone(contact["phone"], get_organization(session, org).phone_region)
    return html(
        request,
        "contact.html",
        {
            "c": contact,
            "orders": orders,
            "deliveries": deliveries,
            "edits": edits,
            "tag_ids": tag_ids,
            "phone": phone,
            "edit": edit or {},
            "editable": EDITABLE_FIELDS,
            "can_edit": user.can(MARKETER),
        },
        user=user,
        zone=org_zone(request, org),
        status=status,
    )


def contact_edit(request: Request, user: Staff, form: FormData) -> Response:
    contact_id = path_int(request, "contact_id")
    fields = {name: form_str(form, name, 400) for name in EDITABLE_FIELDS if name in form}
    try:
        with database(request).write() as session:
            changes = edit_contact(session, user.actor, contact_id, fields)
    except InvalidInput as exc:
        # Shown again with what was typed and the reason next to each field; nothing was saved.
        return contact_detail(request, user, {"values": fields, "errors": field_errors(exc), "open": True}, 400)
    notice = f"Saved: {', '.join(f.replace('_', ' ') for f in changes)}." if changes else "Nothing changed."
    return redirect(f"/manager/contacts/{contact_id}", notice)


def contact_label_remove(request: Request, user: Staff, form: FormData) -> Response:
    contact_id = path_int(request, "contact_id")
    kind, _, raw_id = form_str(form, "label").partition(":")
    if kind not in (TAG, LIST) or not raw_id.isdigit() or len(raw_id) > 18:
        raise InvalidInput("choose a tag or a list")
    with database(request).write() as session:
        name = remove_label(session, user.actor, contact_id, kind, int(raw_id))
    return redirect(f"/manager/contacts/{contact_id}", f"Removed {kind} {name}.")


def contact_consent(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    contact_id = path_int(request, "contact_id")
    channel = form_str(form, "channel")
    wanted = form_str(form, "subscribed")
    if channel not in (EMAIL, SMS) or wanted not in ("true", "false"):
        raise InvalidInput("choose a channel and a state")
    with database(request).write() as session:
        change = ConsentChange(channel, wanted == "true", "staff", user.actor.audit, utcnow(), wanted)
        changed = change_consent(session, org, contact_id, change)
    notice = "Subscription updated." if changed else "Nothing changed."
    return redirect(f"/manager/contacts/{contact_id}", notice)


def vocabulary_page(request: Request, user: Staff, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        tag_rows = vocabulary.with_counts(session, "tag", org)
        list_rows = vocabulary.with_counts(session, "list", org)
    return html(
        request,
        "tags.html",
        {"tag_rows": tag_rows, "list_rows": list_rows, "errors": errors or {}, "can_edit": user.can(MARKETER)},
        user=user,
        status=status,
    )


def create_vocabulary(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    kind = form_str(form, "kind")
    name = form_str(form, "name", 300)
    if kind not in vocabulary.KINDS:
        raise InvalidInput("choose tag or list")
    if len(name) > 200:
        return vocabulary_page(request, user, {kind: "The name is too long (200 characters at most)."}, 400)
    try:
        with database(request).write() as session:
            item = (create_tag if kind == "tag" else create_list)(session, org, name)
            item_id, item_name = item.id, item.name
    except InvalidInput as exc:
        return vocabulary_page(request, user, {kind: exc.message}, 400)
    return redirect("/manager/tags", f"Created {kind} {item_name} (id {item_id}).")


def _kind(request: Request) -> str:
    kind = str(request.path_params.get("kind", ""))
    if kind not in vocabulary.KINDS:
        raise NotFound(kind)
    return kind


def rename_vocabulary(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    kind, item_id = _kind(request), path_int(request, "item_id")
    try:
        with database(request).write() as session:
            vocabulary.rename(session, kind, org, item_id, form_str(form, "name", 300))
    except InvalidInput as exc:
        return vocabulary_page(request, user, {f"{kind}-{item_id}": field_errors(exc).get("name", exc.message)}, 400)
    return redirect("/manager/tags", f"Renamed the {kind}.")


def delete_vocabulary(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    kind, item_id = _kind(request), path_int(request, "item_id")
    with database(request).write() as session:
        vocabulary.remove(session, kind, org, item_id)
    return redirect("/manager/tags", f"Deleted the {kind}.")


__all__ = ["register", "safe_cell", "VIEWER"]
