"""CSV contact imports: upload, column mapping, the five subscription modes, and the worker step.

An import goes through the one apply path like every other source:

1. `create_upload` parses the file once (encoding and delimiter sniffed), keeps the header, a preview
   and the rows in chunks of `CHUNK_ROWS` (status `draft`), and guesses a column mapping.
2. `configure_import` records the mapping, the email mode and the SMS mode, the tags and lists to add
   (status `queued`). "Subscribe everyone" re-subscribes prior opt-outs, so it needs an explicit
   consent confirmation; any SMS mode that subscribes needs its own confirmation of SMS consent.
3. The worker (`run_import_step`, job `imports.run`) turns one chunk at a time into canonical
   `ContactRecord`s (`imports.rows.RowBuilder`: `via="import.<email mode>"`,
   `sms_via="import.<sms mode>"`, `actor` = who confirmed) and enqueues them as one ingest batch with
   source `import:<public id>`, in the same transaction as the import's checkpoint (`next_chunk`).
   Rows that cannot be imported, and details skipped in rows that were, are recorded with their
   row number and the reason (`ImportIssue`).
4. The ingest worker applies the batches (`audience.consent` decides what each mode may change);
   once every batch is applied the import is `done` with created / merged counts from the batch stats.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from fanhub.audience.models import AudienceList, Tag
from fanhub.audience.vocabulary import genres as known_genres
from fanhub.config import get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput
from fanhub.imports.models import (
    APPLYING,
    CHUNK_ROWS,
    COUNTED_STATES,
    DONE,
    DRAFT,
    FAILED_IMPORT,
    MAX_UPLOAD_BYTES,
    PREVIEW_ROWS,
    QUEUED_IMPORT,
    REJECTED,
    RUNNING,
    SKIPPED_VALUE,
    UPLOADING,
    ContactImport,
    ImportChunk,
    ImportIssue,
)
from fanhub.imports.repository import ImportRepository
from fanhub.imports.rows import (
    FIELDS,
    MODES,
    SUBSCRIBING_MODES,
    ImportPlan,
    RowBuilder,
    guess_mapping,
    read_csv,
)
from fanhub.ingest.models import APPLIED, FAILED, QUEUED, IngestBatch
from fanhub.ingest.service import enqueue_batch
from fanhub.organizations.service import get_organization

# --- creating and configuring -------------------------------------------------------------------------


def create_upload(
    session: Session, organization_id: int, filename: str, data: bytes, created_by: str = ""
) -> ContactImport:
    """Store an uploaded CSV as a draft import (rows kept in chunks), with a guessed mapping."""
    item = _new_import(session, organization_id, filename, created_by, DRAFT)
    _fill(session, item, data)
    return item


def _new_import(session: Session, organization_id: int, filename: str, created_by: str, status: str) -> ContactImport:
    get_organization(session, organization_id)
    item = ContactImport(
        public_id=uuid.uuid4().hex,
        organization_id=organization_id,
        created_by=created_by[:200],
        filename=(filename or "upload.csv")[:300],
        status=status,
    )
    session.add(item)
    session.flush()
    return item


def _fill(session: Session, item: ContactImport, data: bytes) -> None:
    header, rows = read_csv(data)
    if not any(header):
        raise InvalidInput("the header row is empty", [{"index": None, "field": "file", "message": "empty header"}])
    if not rows:
        raise InvalidInput("the file has no data rows", [{"index": None, "field": "file", "message": "no rows"}])
    item.status = DRAFT
    item.header = header
    item.preview = rows[:PREVIEW_ROWS]
    item.mapping = guess_mapping(header)
    item.total_rows = len(rows)
    item.chunk_count = (len(rows) + CHUNK_ROWS - 1) // CHUNK_ROWS
    chunks = [
        {"import_id": item.id, "seq": seq, "first_row": start + 2, "rows": json.dumps(rows[start : start + CHUNK_ROWS])}
        for seq, start in enumerate(range(0, len(rows), CHUNK_ROWS))
    ]
    session.execute(insert(ImportChunk), chunks)


def append_upload_part(
    session: Session,
    organization_id: int,
    public_id: str | None,
    filename: str,
    index: int,
    data: bytes,
    last: bool,
    created_by: str = "",
) -> ContactImport:
    """Receive a file in parts (for files larger than one request may be); the last part makes the draft.

    Parts are kept byte for byte (base64 text) in the chunk table until the last one arrives.
    """
    if index == 0:
        item = _new_import(session, organization_id, filename, created_by, UPLOADING)
    else:
        item = get_import(session, organization_id, public_id or "")
        if item.status != UPLOADING:
            raise InvalidInput("this upload is already complete")
    received = session.execute(
        select(func.count(), func.coalesce(func.sum(func.length(ImportChunk.rows)), 0)).where(
            ImportChunk.import_id == item.id
        )
    ).one()
    if int(received[0]) != index:
        raise InvalidInput(f"expected part {int(received[0])}, got part {index}")
    if int(received[1]) * 3 // 4 + len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    session.add(ImportChunk(import_id=item.id, seq=index, first_row=0, rows=base64.b64encode(data).decode("ascii")))
    session.flush()
    if last:
        parts = list(
            session.scalars(select(ImportChunk).where(ImportChunk.import_id == item.id).order_by(ImportChunk.seq))
        )
        whole = b"".join(base64.b64decode(part.rows) for part in parts)
        session.execute(delete(ImportChunk).where(ImportChunk.import_id == item.id))
        _fill(session, item, whole)
    return item


def get_import(session: Session, organization_id: int, public_id: str) -> ContactImport:
    return ImportRepository(session).get_public(organization_id, public_id)


def list_imports(session: Session, organization_id: int, limit: int = 20) -> list[ContactImport]:
    query = (
        select(ContactImport)
        .where(ContactImport.organization_id == organization_id)
        .order_by(ContactImport.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def configure_import(
    session: Session,
    organization_id: int,
    public_id: str,
    *,
    mode: str,
    mapping: dict[str, str],
    sms_mode: str = "dont_change",
    tag_ids: Sequence[int] = (),
    list_ids: Sequence[int] = (),
    consent_confirmed: bool = False,
    sms_consent_confirmed: bool = False,
    confirmed_by: str = "",
) -> ContactImport:
    """Check and record how to import a draft (`mode` is the email mode), then queue it for the worker."""
    item = get_import(session, organization_id, public_id)
    if item.status != DRAFT:
        raise InvalidInput("this import has already been started")
    errors = _mode_errors(mode, sms_mode, consent_confirmed, sms_consent_confirmed)
    clean = _check_mapping(item, mapping, errors)
    tags = sorted(set(tag_ids))
    if tags and _owned(session, Tag, organization_id, tags) != set(tags):
        errors.append({"index": None, "field": "tags", "message": "unknown tag"})
    lists = sorted(set(list_ids))
    if lists and _owned(session, AudienceList, organization_id, lists) != set(lists):
        errors.append({"index": None, "field": "lists", "message": "unknown list"})
    if errors:
        raise InvalidInput(str(errors[0]["message"]), errors)
    item.mode, item.sms_mode = mode, sms_mode
    item.mapping = clean
    item.tag_ids = tags
    item.list_ids = lists
    item.consent_confirmed = bool(consent_confirmed)
    item.sms_consent_confirmed = bool(sms_consent_confirmed)
    if confirmed_by:
        item.created_by = confirmed_by[:200]
    item.status = QUEUED_IMPORT
    item.queued_at = utcnow()
    return item


def _mode_errors(
    mode: str, sms_mode: str, consent_confirmed: bool, sms_consent_confirmed: bool
) -> list[dict[str, object]]:
    errors: list[dict[str, object]] = []
    if mode not in MODES:
        errors.append({"index": None, "field": "mode", "message": "choose how email subscriptions are handled"})
    elif mode == "subscribe_everyone" and not consent_confirmed:
        errors.append(
            {
                "index": None,
                "field": "consent_confirmed",
                "message": "confirm that every contact in the file gave explicit consent to receive emails",
            }
        )
    if sms_mode not in MODES:
        errors.append({"index": None, "field": "sms_mode", "message": "choose how SMS subscriptions are handled"})
    elif sms_mode in SUBSCRIBING_MODES and not sms_consent_confirmed:
        errors.append(
            {
                "index": None,
                "field": "sms_consent_confirmed",
                "message": "confirm that every person in the file agreed to receive text messages at their "
                "number (a phone number alone is not consent to texts)",
            }
        )
    return errors


def _check_mapping(item: ContactImport, mapping: dict[str, str], errors: list[dict[str, object]]) -> dict[str, str]:
    clean: dict[str, str] = {}
    used: set[str] = set()
    for column, field in mapping.items():
        if not field:
            continue
        if column not in item.header:
            errors.append({"index": None, "field": "mapping", "message": f"unknown column {column!r}"})
        elif field not in FIELDS:
            errors.append({"index": None, "field": f"map:{column}", "message": f"unknown field {field!r}"})
        elif field in used:
            errors.append({"index": None, "field": f"map:{column}", "message": f"{field} is mapped twice"})
        else:
            clean[column] = field
            used.add(field)
    if "email" not in used and "phone" not in used:
        errors.append({"index": None, "field": "mapping", "message": "map at least an email or a phone column"})
    return clean


def _owned(session: Session, model: Any, organization_id: int, ids: Sequence[int]) -> set[int]:
    query = select(model.id).where(model.organization_id == organization_id, model.id.in_(ids))
    return {int(i) for i in session.scalars(query)}


# --- the worker step ------------------------------------------------------------------------------------


def _claim(session: Session) -> ContactImport | None:
    query = (
        select(ContactImport)
        .where(ContactImport.status.in_((QUEUED_IMPORT, RUNNING, APPLYING)))
        .order_by(ContactImport.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).first()


def run_import_step(database: Database) -> bool:
    """One bounded unit of import work: enqueue the next chunk of one import, or finish one. False if idle."""
    with database.write() as session:
        item = _claim(session)
        if item is None:
            return False
        if item.status == APPLYING:
            return _finish_if_applied(session, item)
        chunk = session.scalars(
            select(ImportChunk).where(ImportChunk.import_id == item.id, ImportChunk.seq == item.next_chunk)
        ).first()
        if chunk is None:
            item.status = APPLYING
            return True
        _enqueue_chunk(session, item, chunk)
        return True


def _plan(session: Session, item: ContactImport) -> ImportPlan:
    organization = get_organization(session, item.organization_id)
    tag_names: list[str] = []
    if item.tag_ids:
        query = select(Tag.name).where(Tag.organization_id == item.organization_id, Tag.id.in_(item.tag_ids))
        tag_names = list(session.scalars(query))
    return ImportPlan(
        index={field: item.header.index(column) for column, field in item.mapping.items()},
        email_mode=item.mode or "dont_change",
        # An import queued before SMS had its own mode and applied after the upgrade: never subscribe SMS.
        sms_mode=item.sms_mode or "dont_change",
        tag_names=tag_names,
        list_ids=[int(i) for i in item.list_ids],
        region=organization.phone_region or get_settings().default_phone_region,
        actor=item.created_by or None,
        genres=frozenset(known_genres()),
    )


def _enqueue_chunk(session: Session, item: ContactImport, chunk: ImportChunk) -> None:
    builder = RowBuilder(_plan(session, item))
    records: list[dict[str, Any]] = []
    issues: list[dict[str, Any]] = []
    skipped = 0
    for offset, row in enumerate(json.loads(chunk.rows)):
        result = builder.build(row)
        if result.blank:
            skipped += 1
            continue
        outcome = REJECTED if result.record is None else SKIPPED_VALUE
        issues += [
            {
                "import_id": item.id,
                "row": chunk.first_row + offset,
                "outcome": outcome,
                "field": f,
                "value": v,
                "message": m,
            }
            for f, v, m in result.issues
        ]
        if result.record is None:
            item.rejected += 1
        else:
            records.append(result.record)
    _create_named_tags(session, item.organization_id, builder.new_tags)
    if issues:
        session.execute(insert(ImportIssue), issues)
    if records:
        enqueue_batch(
            session,
            item.organization_id,
            f"import:{item.public_id}",
            "contacts",
            json.dumps({"contacts": records}),
            len(records),
        )
    item.skipped += skipped
    item.enqueued_rows += len(records)
    item.next_chunk = chunk.seq + 1
    item.status = RUNNING if item.next_chunk < item.chunk_count else APPLYING
    session.delete(chunk)


def _create_named_tags(session: Session, organization_id: int, names: set[str]) -> None:
    """Tags named in the file are created here: importing staff may create tags (the API may not)."""
    if not names:
        return
    existing = set(session.scalars(select(Tag.name).where(Tag.organization_id == organization_id, Tag.name.in_(names))))
    for name in sorted(names - existing):
        session.add(Tag(organization_id=organization_id, name=name))
    session.flush()


def _finish_if_applied(session: Session, item: ContactImport) -> bool:
    source = f"import:{item.public_id}"
    rows = session.execute(
        select(IngestBatch.status, IngestBatch.stats, IngestBatch.item_count, IngestBatch.errors).where(
            IngestBatch.organization_id == item.organization_id, IngestBatch.source == source
        )
    ).all()
    if any(status == QUEUED for status, _, _, _ in rows):
        return False
    created = merged = changes = 0
    channel_counts = {f"{channel}_{state}": 0 for channel in ("email", "sms") for state in COUNTED_STATES}
    failed: list[str] = []
    for status, stats, count, errors in rows:
        if status == APPLIED:
            stats = stats or {}
            created += int(stats.get("contacts_created", 0))
            merged += int(count) - int(stats.get("contacts_created", 0))
            changes += int(stats.get("consent_changes", 0))
            for key in channel_counts:
                channel_counts[key] += int(stats.get(key, 0))
        elif status == FAILED:
            failed.append("; ".join(str(e.get("message")) for e in (errors or [])) or "failed")
    item.created, item.merged, item.consent_changes = created, merged, changes
    item.counts = _per_channel(channel_counts, created + merged)
    item.status = FAILED_IMPORT if failed else DONE
    item.error = failed[0][:2000] if failed else None
    item.finished_at = utcnow()
    return True


def _per_channel(changes: dict[str, int], applied_rows: int) -> dict[str, Any]:
    """{"email": {"subscribed", "unsubscribed", "unchanged"}, "sms": {...}} over the rows applied."""
    result: dict[str, Any] = {}
    for channel in ("email", "sms"):
        counts = {state: changes[f"{channel}_{state}"] for state in COUNTED_STATES}
        counts["unchanged"] = applied_rows - sum(counts.values())
        result[channel] = counts
    return result


# --- reading progress and results -------------------------------------------------------------------------


def progress(session: Session, item: ContactImport) -> dict[str, Any]:
    """Where an import stands: rows read, queued, applied, and the final counts once done."""
    applied_rows = 0
    if item.status in (RUNNING, APPLYING):
        applied_rows = int(
            session.scalar(
                select(func.coalesce(func.sum(IngestBatch.item_count), 0)).where(
                    IngestBatch.organization_id == item.organization_id,
                    IngestBatch.source == f"import:{item.public_id}",
                    IngestBatch.status == APPLIED,
                )
            )
            or 0
        )
    elif item.status == DONE:
        applied_rows = item.enqueued_rows
    read_rows = min(item.total_rows, item.next_chunk * CHUNK_ROWS)
    done_rows = applied_rows + item.rejected + item.skipped if item.status != DONE else item.total_rows
    percent = 100 if item.status in (DONE, FAILED_IMPORT) else int(100 * done_rows / max(item.total_rows, 1))
    return {
        "import_id": item.public_id,
        "status": item.status,
        "mode": item.mode,
        "email_mode": item.mode,
        "sms_mode": item.sms_mode,
        "filename": item.filename,
        "total_rows": item.total_rows,
        "read_rows": read_rows,
        "applied_rows": applied_rows,
        "percent": min(percent, 100),
        "created": item.created,
        "merged": item.merged,
        "skipped": item.skipped,
        "rejected": item.rejected,
        "consent_changes": item.consent_changes,
        "channels": item.counts,
        "error": item.error,
    }


def issue_rows(session: Session, organization_id: int, public_id: str, limit: int) -> dict[str, Any]:
    """The rejected rows and the values skipped in imported rows, as every front door reports them."""
    item = get_import(session, organization_id, public_id)
    total = int(session.scalar(select(func.count()).where(ImportIssue.import_id == item.id)) or 0)
    partly = session.scalar(
        select(func.count(func.distinct(ImportIssue.row))).where(
            ImportIssue.import_id == item.id, ImportIssue.outcome == SKIPPED_VALUE
        )
    )
    rows = [
        {"row": i.row, "outcome": i.outcome, "field": i.field, "value": i.value, "reason": i.message}
        for i in import_issues(session, organization_id, public_id, limit)
    ]
    return {"partly_applied": int(partly or 0), "issues": rows, "issues_total": total}


def import_issues(
    session: Session, organization_id: int, public_id: str, limit: int | None = None
) -> list[ImportIssue]:
    item = get_import(session, organization_id, public_id)
    query = select(ImportIssue).where(ImportIssue.import_id == item.id).order_by(ImportIssue.row, ImportIssue.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
