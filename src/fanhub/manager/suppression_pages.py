"""The suppression list (`/manager/suppressions`): addresses nothing is sent to, paged and filtered by
reason; staff add one by hand, remove one (audited, as `fanhub suppressions remove`), import another
provider's export and download the list as CSV. A notice says when a mailbox provider recently
refused mail for a reason about the sender's own domain or reputation.

Viewers see and export the list; changing it needs the marketer role. The list and its rules are
`audience/suppression.py`; the queries these pages need, `deliverability/queries.py`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import FormData, UploadFile

from fanhub.audience import suppression
from fanhub.auth.users import MARKETER
from fanhub.deliverability import queries
from fanhub.errors import InvalidInput
from fanhub.manager.audience_pages import safe_cell
from fanhub.manager.web import (
    Staff,
    action,
    database,
    field_errors,
    form_str,
    html,
    org_zone,
    page,
    query_int,
    redirect,
)

PATH = "/manager/suppressions"
PER_PAGE = 50
REASON_LABELS = {
    suppression.HARD_BOUNCE: "Hard bounce",
    suppression.SOFT_BOUNCE: "Soft bounces",
    suppression.COMPLAINT: "Spam complaint",
    suppression.MANUAL: "Added by staff",
    suppression.IMPORTED: "Imported",
    suppression.UNENGAGED: "Unengaged",
    suppression.ERASED: "Erased",
}


def register(router: APIRouter) -> None:
    page(router, "/suppressions")(suppressions_page)
    page(router, "/suppressions/export.csv")(export_csv)
    action(router, "/suppressions", MARKETER)(add)
    action(router, "/suppressions/remove", MARKETER)(remove)
    action(router, "/suppressions/import", MARKETER)(import_file)


def _reason_filter(request: Request) -> str | None:
    reason = request.query_params.get("reason", "").strip()
    return reason if reason in suppression.REASONS else None


def suppressions_page(
    request: Request, user: Staff, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    org = user.organization_id
    reason = _reason_filter(request)
    number = max(1, query_int(request, "page", 1) or 1)
    with database(request).read() as session:
        entries, has_more = suppression.page(session, org, page=number, per_page=PER_PAGE, reason=reason)
        counts = queries.reason_counts(session, org)
        warning = queries.sender_warning(session, org)
    values: dict[str, Any] = {
        "entries": entries,
        "has_more": has_more,
        "page_number": number,
        "reason": reason,
        "counts": counts,
        "total": sum(counts.values()),
        "labels": REASON_LABELS,
        "warning": warning,
        "can_edit": user.can(MARKETER),
        "errors": {},
        "new_address": "",
    }
    values.update(context or {})
    return html(request, "suppressions.html", values, user=user, status=status, zone=org_zone(request, org))


def add(request: Request, user: Staff, form: FormData) -> Response:
    address = form_str(form, "address", 320)
    try:
        with database(request).write() as session:
            normalized, added = queries.add_by_staff(session, user.organization_id, address, user.actor.audit)
    except InvalidInput as exc:
        return suppressions_page(request, user, {"errors": field_errors(exc), "new_address": address}, 400)
    if not added:
        return redirect(PATH, f"{normalized} was already on the list.")
    return redirect(PATH, f"{normalized} suppressed: nothing will be sent to it.")


def remove(request: Request, user: Staff, form: FormData) -> Response:
    address = form_str(form, "address", 320)
    with database(request).write() as session:
        removed = suppression.remove(session, user.organization_id, address, user.actor.audit)
    if not removed:
        message = f"{address} is not on the list" if address else "give the address to remove"
        raise InvalidInput(f"address: {message}", [{"field": "address", "message": message}])
    return redirect(PATH, f"{address.lower()} removed from the list. Anyone who unsubscribed stays unsubscribed.")


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    """The uploaded file's rows, refused naming the field when it is not a CSV with an address column."""

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(f"file: {message}", [{"field": "file", "message": message}])

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise refuse("the file is not UTF-8 text; export it as CSV (UTF-8)") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = {(name or "").strip().lower() for name in reader.fieldnames or []}
    if not header & set(suppression.ADDRESS_COLUMNS):
        raise refuse("no address column: the header needs one of email, address or Email Address")
    try:
        return list(reader)
    except csv.Error as exc:
        raise refuse(f"not a readable CSV ({exc})") from None


def import_file(request: Request, user: Staff, form: FormData) -> Response:
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        errors = {"file": "choose the CSV file another provider exported"}
        return suppressions_page(request, user, {"errors": errors}, 400)
    name = file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:150]
    try:
        rows = _csv_rows(file.file.read())
        with database(request).write() as session:
            counts = suppression.import_csv(session, user.organization_id, rows, f"import:{name}")
    except InvalidInput as exc:
        return suppressions_page(request, user, {"errors": field_errors(exc)}, 400)
    return redirect(
        PATH,
        f"{name}: {counts['read']} rows, {counts['added']} added, {counts['already']} already on the list,"
        f" {counts['invalid']} not an email address.",
    )


def _csv_text(rows: Iterable[dict[str, str]], lines_per_chunk: int = 500) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(queries.EXPORT_COLUMNS)
    for count, row in enumerate(rows, 1):
        writer.writerow([safe_cell(row[column]) for column in queries.EXPORT_COLUMNS])
        if count % lines_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_csv(request: Request, user: Staff) -> Response:
    """The whole list (every reason), streamed: the columns `fanhub suppressions export` writes."""
    rows = queries.iter_export_rows(database(request), user.organization_id)
    return StreamingResponse(
        _csv_text(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="suppressions.csv"', "Cache-Control": "no-store"},
    )
