"""Audience pages: the contacts table (search, filters, sorting, keyset pages, bulk tag / untag / list
changes on the selected rows or on every contact matching the filter, each undoable from the notice
that reports it, CSV export), the contact page (identities, sources, consent timeline, orders,
deliveries), tags and lists."""

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
from fanhub.audience.bulk_labels import (
    change_labels_matching,
    get_label_change,
    preview_matching_change,
    undo_label_change,
)
from fanhub.audience.consent import EMAIL, SMS, ConsentChange
from fanhub.audience.contact_edit import EDITABLE_FIELDS, edit_contact, remove_label
from fanhub.audience.contact_sort import ContactSort, last_orders, sorted_contacts_page
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
    action(router, "/contacts/changes/{change_id}/undo", MARKETER)(undo_bulk)
    page(router, "/contacts/{contact_id}")(contact_detail)
    action(router, "/contacts/{contact_id}/consent", MARKETER)(contact_consent)
    action(router, "/contacts/{contact_id}/edit", MARKETER)(contact_edit)
    action(router, "/contacts/{contact_id}/labels/remove", MARKETER)(contact_label_remove)
    page(router, "/tags")(vocabulary_page)
    action(router, "/tags", MARKETER)(create_vocabulary)
    action(router, "/tags/{kind}/{item_id}/rename", MARKETER)(rename_vocabulary)
    action(router, "/tags/{kind}/{item_id}/delete", MARKETER)(delete_vocabulary)
    action(router, "/tags/list/{item_id}/visibility", MARKETER)(list_visibility)


def contacts(request: Request, user: Staff) -> Response:
    org = user.organization_id
    f = ContactFilter.from_params(request.query_params)
    sort = ContactSort.from_params(request.query_params)
    after = request.query_params.get("after", "")[:400] or None
    undo_id = query_int(request, "undo")
    with database(request).read() as session:
        rows, next_cursor = sorted_contacts_page(session, org, f, sort, after)
        ids = [c.id for c in rows]
        tags, lists = reports.labels_for(session, ids)
        contact_genres = reports.genres_for(session, ids)
        ordered = last_orders(session, ids)
        # Always shown: the count is served by the filter's indexes (< 150 ms at a million contacts).
        count = reports.count_contacts_matching(session, org, f)
        region = get_organization(session, org).phone_region
        all_tags = list_tags(session, org)
        all_lists = list_lists(session, org)
        events = event_choices(session, org)
        change = get_label_change(session, org, undo_id) if undo_id else None
    return html(
        request,
        "contacts.html",
        {
            "rows": rows,
            "tags": tags,
            "lists": lists,
            "contact_genres": contact_genres,
            "last_orders": ordered,
            "phones": {c.id: display_phone(c.phone, region) for c in rows},
            "f": f,
            "params": f.params(),
            "sort": sort,
            "next_cursor": next_cursor,
            "after": after,
            "count": count,
            "all_tags": all_tags,
            "all_lists": all_lists,
            "genres": genres(),
            "statuses": STATUSES,
            "can_edit": user.can(MARKETER),
            "events": events,
            # The notice of a bulk change carries its Undo button, so this page shows it itself.
            "undo": change if change is not None and change.undoable and user.can(MARKETER) else None,
            "page_notice": request.query_params.get("notice", "")[:300],
            "notice": "",
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


# The bulk form's choices: "<what>:<tag or list id>", e.g. "untag:3".
BULK_ACTIONS = {"tag": (TAG, True), "untag": (TAG, False), "list": (LIST, True), "unlist": (LIST, False)}


def bulk(request: Request, user: Staff, form: FormData) -> Response:
    """The selected rows, or every contact matching the filter (`scope=matching`, after a confirmation
    page showing how many), get or lose a tag or list; the notice reports it with an Undo button."""
    ids = form_ints(form, "contact_id")
    what, _, raw_target = form_str(form, "bulk_target").partition(":")
    target = int(raw_target) if raw_target.isdigit() and len(raw_target) < 18 else None
    back = _contacts_back(form)
    matching = form_str(form, "scope") == "matching"
    if (not ids and not matching) or target is None:
        return redirect(back, "Select contacts and a tag or list first.")
    if what not in BULK_ACTIONS:
        raise InvalidInput("choose a tag or list to add or remove")
    kind, add = BULK_ACTIONS[what]
    if matching:
        f = ContactFilter.from_params(form)
        if form_str(form, "confirm") != "yes":
            with database(request).read() as session:
                preview = preview_matching_change(session, user.actor, kind, target, f, add)
            context = {"preview": preview, "params": f.params(), "bulk_target": f"{what}:{target}", "back": back}
            return html(request, "contacts_bulk_confirm.html", context, user=user)
        change = change_labels_matching(database(request), user.actor, kind, target, f, add)
    else:
        with database(request).write() as session:
            change = change_labels(session, user.actor, kind, target, ids, add=add)
    message = LabelChange.describe[(kind, add)].format(n=f"{change.changed:,}", name=change.name)
    if change.change_id is not None:
        back += ("&" if "?" in back else "?") + f"undo={change.change_id}"
    return redirect(back, message)


def undo_bulk(request: Request, user: Staff, form: FormData) -> Response:
    change_id = path_int(request, "change_id")
    back = _contacts_back(form)
    try:
        undone = undo_label_change(database(request), user.actor, change_id)
    except InvalidInput as exc:
        return redirect(back, f"Not undone: {field_errors(exc).get('change', exc.message)}.")
    message = LabelChange.describe[(undone.kind, undone.added)].format(n=f"{undone.changed:,}", name=undone.name)
    return redirect(back, f"Undone. {message}")


def _contacts_back(form: FormData) -> str:
    back = form_str(form, "back", 2000)
    return back if back.startswith("/manager/contacts") else "/manager/contacts"


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
            if kind == "tag":
                tag = create_tag(session, org, name)
                item_id, item_name = tag.id, tag.name
            else:
                made = create_list(session, org, name, public=form_str(form, "public") == "1")
                item_id, item_name = made.id, made.name
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


def list_visibility(request: Request, user: Staff, form: FormData) -> Response:
    """Make a list public (on every recipient's preference center) or private."""
    public = form_str(form, "public") == "1"
    with database(request).write() as session:
        item = vocabulary.set_public(session, user.organization_id, path_int(request, "item_id"), public)
        name = item.name
    return redirect("/manager/tags", f"List {name} is now {'public' if public else 'private'}.")


def delete_vocabulary(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    kind, item_id = _kind(request), path_int(request, "item_id")
    with database(request).write() as session:
        vocabulary.remove(session, kind, org, item_id)
    return redirect("/manager/tags", f"Deleted the {kind}.")


__all__ = ["register", "safe_cell", "VIEWER"]
