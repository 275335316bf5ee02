"""CSV import pages: upload, preview and column mapping, mode choice, live progress, results and
the downloadable list of rejected rows. The work itself is `imports.service` run by the worker."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, UploadFile

from fanhub.audience.service import list_lists, list_tags
from fanhub.auth.users import ADMIN, MARKETER
from fanhub.errors import InvalidInput
from fanhub.imports import review as import_review
from fanhub.imports import rows as import_rows
from fanhub.imports import service as imports
from fanhub.manager.audience_pages import safe_cell
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
    settings,
)

MAX_UPLOAD_ROWS = 1_000_000


def register(router: APIRouter) -> None:
    page(router, "/imports")(imports_page)
    page(router, "/imports/sms-review", ADMIN)(sms_review_page)
    action(router, "/imports/sms-review/revert", ADMIN)(sms_review_revert)
    action(router, "/imports/sms-review/keep", ADMIN)(sms_review_keep)
    action(router, "/imports", MARKETER)(upload)
    action(router, "/imports/parts", MARKETER)(upload_part)
    page(router, "/imports/{import_id}")(import_detail)
    page(router, "/imports/{import_id}/progress.json")(import_progress)
    page(router, "/imports/{import_id}/issues.csv")(import_issues_csv)
    action(router, "/imports/{import_id}/start", MARKETER)(start)


def _import_id(request: Request) -> str:
    value = str(request.path_params.get("import_id", ""))
    return value if value.isalnum() and len(value) <= 32 else "-"


def imports_page(request: Request, user: Staff, error: str | None = None, status: int = 200) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        items = imports.list_imports(session, org)
    return html(
        request,
        "imports.html",
        {
            "items": items,
            "error": error,
            "can_edit": user.can(MARKETER),
            "part_size": part_size(request),
        },
        user=user,
        status=status,
        zone=org_zone(request, org),
    )


def part_size(request: Request) -> int:
    """Bytes of file per request when a file is sent in parts (what the body limit leaves room for)."""
    limit = settings(request).max_body_bytes
    return max(1024, limit - min(256 * 1024, limit // 4))


def upload_part(request: Request, user: Staff, form: FormData) -> Response:
    """One part of a file too large for one request (sent by manager.js); JSON in, JSON out."""
    org = user.organization_id
    part = form.get("part")
    index_raw = form_str(form, "index", 10)
    if not isinstance(part, UploadFile) or not index_raw.isdigit():
        return JSONResponse({"error": "send a part and its index"}, status_code=400)
    try:
        with database(request).write() as session:
            item = imports.append_upload_part(
                session,
                org,
                form_str(form, "upload_id", 32) or None,
                form_str(form, "filename", 300),
                int(index_raw),
                part.file.read(),
                form_str(form, "last", 1) == "1",
                user.actor.audit,
            )
            public_id = item.public_id
    except InvalidInput as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    return JSONResponse({"upload_id": public_id, "next": f"/manager/imports/{public_id}"})


def upload(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return imports_page(request, user, "Choose a CSV file to upload.", 400)
    data = file.file.read()
    try:
        with database(request).write() as session:
            item = imports.create_upload(session, org, file.filename, data, user.actor.audit)
            public_id = item.public_id
    except InvalidInput as exc:
        return imports_page(request, user, exc.message, 400)
    return redirect(f"/manager/imports/{public_id}")


def import_detail(
    request: Request,
    user: Staff,
    errors: dict[str, str] | None = None,
    status: int = 200,
    chosen: dict[str, object] | None = None,
) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        item = imports.get_import(session, org, _import_id(request))
        progress = imports.progress(session, item)
        issues = imports.issue_rows(session, org, item.public_id, limit=100)
        tags = list_tags(session, org)
        lists = list_lists(session, org)
    mapping = dict(item.mapping)
    return html(
        request,
        "import.html",
        {
            "item": item,
            "p": progress,
            "issues": issues,
            "tags": tags,
            "lists": lists,
            "mapping": mapping,
            "fields": import_rows.FIELD_LABELS,
            "modes": import_rows.MODE_LABELS,
            "errors": errors or {},
            "chosen": chosen or {},
            "can_edit": user.can(MARKETER),
        },
        user=user,
        status=status,
        zone=org_zone(request, org),
    )


def import_progress(request: Request, user: Staff) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        item = imports.get_import(session, org, _import_id(request))
        return JSONResponse(imports.progress(session, item), headers={"Cache-Control": "no-store"})


def import_issues_csv(request: Request, user: Staff) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        rows = imports.import_issues(session, org, _import_id(request))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["row", "field", "value", "reason", "outcome"])
        for issue in rows:
            values = (issue.row, issue.field, issue.value, issue.message, issue.outcome)
            writer.writerow([safe_cell(v) for v in values])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="rejected-rows.csv"', "Cache-Control": "no-store"},
    )


def start(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    public_id = _import_id(request)
    with database(request).read() as session:
        header = imports.get_import(session, org, public_id).header
    mapping: dict[str, str] = {}
    for index, column in enumerate(header):
        field = form_str(form, f"map_{index}")
        if field:
            mapping[column] = field
    mode = form_str(form, "mode")
    sms_mode = form_str(form, "sms_mode") or "dont_change"
    tag_ids = form_ints(form, "tag_ids")
    list_ids = form_ints(form, "list_ids")
    try:
        with database(request).write() as session:
            imports.configure_import(
                session,
                org,
                public_id,
                mode=mode,
                sms_mode=sms_mode,
                mapping=mapping,
                tag_ids=tag_ids,
                list_ids=list_ids,
                consent_confirmed=form_str(form, "consent_confirmed") == "yes",
                sms_consent_confirmed=form_str(form, "sms_consent_confirmed") == "yes",
                confirmed_by=user.actor.audit,
            )
    except InvalidInput as exc:
        chosen: dict[str, object] = {
            "mode": mode,
            "sms_mode": sms_mode,
            "mapping": mapping,
            "tag_ids": tag_ids,
            "list_ids": list_ids,
        }
        return import_detail(request, user, field_errors(exc), 400, chosen)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return redirect(f"/manager/imports/{public_id}", "Import started.")


def sms_review_page(request: Request, user: Staff) -> Response:
    """What imports made before SMS had its own choice did to SMS, and the repair (admins)."""
    org = user.organization_id
    with database(request).read() as session:
        items = import_review.review(session, org)
        pending = import_review.needs_review(session, org)
    to_revert = sum(item.action == import_review.REVERT for item in items)
    return html(
        request,
        "sms_review.html",
        {"items": items, "to_revert": to_revert, "pending": pending},
        user=user,
        zone=org_zone(request, org),
    )


def sms_review_revert(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    with database(request).write() as session:
        counts = import_review.revert(session, org, user.actor.audit)
    return redirect(
        "/manager/imports/sms-review",
        f"{counts['reverted']} SMS subscriptions put back; {counts['keep']} kept.",
    )


def sms_review_keep(request: Request, user: Staff, form: FormData) -> Response:
    org = user.organization_id
    with database(request).write() as session:
        import_review.keep_all(session, org)
    return redirect("/manager/", "The SMS subscriptions made by earlier imports were left as they are.")
