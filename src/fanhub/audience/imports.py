"""CSV contact imports: upload, column mapping, the five subscription modes, and the worker step.

An import goes through the one apply path like every other source:

1. `create_upload` parses the file once (encoding and delimiter sniffed), keeps the header, a preview
   and the rows in chunks of `CHUNK_ROWS` (status `draft`), and guesses a column mapping.
2. `configure_import` records the mapping, the mode, the tags and lists to add (status `queued`).
   "Subscribe everyone" re-subscribes prior opt-outs, so it needs an explicit consent confirmation.
3. The worker (`run_import_step`, job `audience.import`) turns one chunk at a time into canonical
   `ContactRecord`s with `via="import.<mode>"` and enqueues them as one ingest batch with source
   `import:<public id>`, in the same transaction as the import's checkpoint (`next_chunk`). Rows that
   cannot be imported are recorded with their row number and the reason (`ImportIssue`).
4. The ingest worker applies the batches (`audience.consent` decides what each mode may change);
   once every batch is applied the import is `done` with created / merged counts from the batch stats.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fanhub.audience.identity import normalize_email, normalize_phone
from fanhub.audience.models import AudienceList, Tag
from fanhub.audience.vocabulary import genres as known_genres
from fanhub.config import get_settings
from fanhub.db.base import Base, BigId, utcnow
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.ingest.models import APPLIED, FAILED, QUEUED, IngestBatch
from fanhub.ingest.service import enqueue_batch
from fanhub.organizations.service import get_organization

CHUNK_ROWS = 5000
MAX_COLUMNS = 200
MAX_CELL = 5000
PREVIEW_ROWS = 5

DRAFT, QUEUED_IMPORT, RUNNING, APPLYING, DONE, FAILED_IMPORT = (
    "draft",
    "queued",
    "running",
    "applying",
    "done",
    "failed",
)
UPLOADING = "uploading"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024

# mode -> (what to do to each channel the row has, the consent `via`)
MODES: dict[str, tuple[bool | None, str]] = {
    "subscribe_everyone": (True, "import.subscribe_everyone"),
    "subscribe_if_not_opted_out": (True, "import.subscribe_if_not_opted_out"),
    "unsubscribe_everyone": (False, "import.unsubscribe_everyone"),
    "unsubscribe_if_not_subscribed": (False, "import.unsubscribe_if_not_subscribed"),
    "dont_change": (None, "import.dont_change"),
}
MODE_LABELS = {
    "subscribe_everyone": "Subscribe everyone (even prior opt-outs)",
    "subscribe_if_not_opted_out": "Subscribe only if not opted out",
    "unsubscribe_everyone": "Unsubscribe everyone",
    "unsubscribe_if_not_subscribed": "Unsubscribe only if not subscribed",
    "dont_change": "Don't change subscription",
}
FIELDS = ("full_name", "first_name", "last_name", "email", "phone", "tags", "genres", "address", "birthday")
FIELD_LABELS = {
    "": "(ignore)",
    "full_name": "Full name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "tags": "Tags",
    "genres": "Genres",
    "address": "Address",
    "birthday": "Birthday",
}
_HEADER_GUESSES = {
    "full_name": ("name", "full name", "fullname", "contact name", "customer name"),
    "first_name": ("first name", "firstname", "first", "given name", "forename"),
    "last_name": ("last name", "lastname", "last", "surname", "family name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "phone": ("phone", "phone number", "mobile", "mobile number", "cell", "cell phone", "telephone", "tel", "sms"),
    "tags": ("tags", "tag", "labels"),
    "genres": ("genres", "genre"),
    "address": ("address", "street address", "zip", "zip code", "postal code", "postcode"),
    "birthday": ("birthday", "birth date", "birthdate", "date of birth", "dob"),
}
# The date formats Cymbal's upload page lists (ISO first; 01/02/2006 is month/day/year).
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%B %d, %Y", "%b %d, %Y", "%m/%d/%Y")
_LIMITS = {"full_name": 400, "first_name": 200, "last_name": 200, "address": 1000}


class ContactImport(Base):
    __tablename__ = "contact_imports"
    __table_args__ = (Index("ix_contact_imports_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    filename: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    # The email mode (`mode`, named before SMS had its own) and the SMS mode. An import made before
    # the SMS mode existed has sms_mode NULL: it applied `mode` to SMS as well (see `import_review`).
    mode: Mapped[str | None] = mapped_column(String(40), default=None)
    sms_mode: Mapped[str | None] = mapped_column(String(40), default=None)
    consent_confirmed: Mapped[bool] = mapped_column(default=False)
    sms_consent_confirmed: Mapped[bool] = mapped_column(default=False)
    header: Mapped[list[Any]] = mapped_column(default=list)
    preview: Mapped[list[Any]] = mapped_column(default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tag_ids: Mapped[list[Any]] = mapped_column(default=list)
    list_ids: Mapped[list[Any]] = mapped_column(default=list)
    total_rows: Mapped[int] = mapped_column(default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    next_chunk: Mapped[int] = mapped_column(default=0)
    enqueued_rows: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    merged: Mapped[int] = mapped_column(default=0)
    consent_changes: Mapped[int] = mapped_column(default=0)
    # Per channel: how many contacts were subscribed, unsubscribed, left unchanged (set when done).
    counts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ImportChunk(Base):
    __tablename__ = "contact_import_chunks"
    __table_args__ = (UniqueConstraint("import_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    first_row: Mapped[int] = mapped_column()
    rows: Mapped[str] = mapped_column(Text)


class ImportIssue(Base):
    """A row that was not imported, with its number in the file (header = row 1) and why."""

    __tablename__ = "contact_import_issues"
    __table_args__ = (Index("ix_contact_import_issues_import", "import_id", "row"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column()
    field: Mapped[str | None] = mapped_column(String(40), default=None)
    value: Mapped[str | None] = mapped_column(Text, default=None)
    message: Mapped[str] = mapped_column(Text)


# --- parsing ------------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1", errors="replace")


def read_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a CSV file; raises InvalidInput for files that are not CSV."""
    text = decode(data).replace("\x00", "")
    if not text.strip():
        raise InvalidInput("the file is empty", [{"index": None, "field": "file", "message": "empty file"}])
    sample = text[:20000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    csv.field_size_limit(1 << 20)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [row for row in reader]
    except csv.Error as exc:
        raise InvalidInput(
            f"the file is not a readable CSV ({exc})", [{"index": None, "field": "file", "message": str(exc)}]
        ) from None
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise InvalidInput("the file has no header row", [{"index": None, "field": "file", "message": "no header"}])
    header = [cell.strip()[:200] for cell in rows[0][:MAX_COLUMNS]]
    return header, [[cell[:MAX_CELL] for cell in row[: len(header)]] for row in rows[1:]]


def _norm_header(name: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", name.strip().lower()).strip()


def guess_mapping(header: Sequence[str]) -> dict[str, str]:
    """Column name -> field for the columns whose names say what they hold; each field at most once."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        norm = _norm_header(column)
        for field, names in _HEADER_GUESSES.items():
            if field not in taken and (norm in names or norm.replace(" ", "") in {n.replace(" ", "") for n in names}):
                mapping[column] = field
                taken.add(field)
                break
    return mapping


_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )
    )
}
_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DAY_MONTH = re.compile(r"^(\d{1,2}) ([A-Za-z]+) (\d{4})$")
_MONTH_DAY = re.compile(r"^([A-Za-z]+) (\d{1,2}),? (\d{4})$")


def _month(name: str) -> int:
    lower = name.lower()
    for full, number in _MONTHS.items():
        if lower == full or lower == full[:3]:
            return number
    raise ValueError(name)


@lru_cache(maxsize=8192)
def parse_date(value: str) -> str:
    """A birthday in any of the documented formats (`DATE_FORMATS`) as YYYY-MM-DD; ValueError otherwise."""
    text = " ".join(value.strip().split())
    try:
        if match := _ISO.match(text):
            parsed = date(int(match[1]), int(match[2]), int(match[3]))
        elif match := _US.match(text):
            parsed = date(int(match[3]), int(match[1]), int(match[2]))
        elif match := _DAY_MONTH.match(text):
            parsed = date(int(match[3]), _month(match[2]), int(match[1]))
        elif match := _MONTH_DAY.match(text):
            parsed = date(int(match[3]), _month(match[1]), int(match[2]))
        else:
            raise ValueError(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date in a supported format (e.g. 2006-01-02, Jan 2, 2006, 01/02/2006)"
        ) from None
    if parsed.year < 1900 or parsed > date.today():
        raise ValueError(f"{value!r} is not a plausible birthday")
    return parsed.isoformat()


def split_values(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;,|]", value) if part.strip()]


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
    item = session.scalars(select(ContactImport).where(ContactImport.public_id == public_id)).first()
    if item is None or item.organization_id != organization_id:
        raise NotFound(f"import {public_id} not found")
    return item


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
    tag_ids: Sequence[int] = (),
    list_ids: Sequence[int] = (),
    consent_confirmed: bool = False,
) -> ContactImport:
    """Check and record how to import a draft, then queue it for the worker."""
    item = get_import(session, organization_id, public_id)
    if item.status != DRAFT:
        raise InvalidInput("this import has already been started")
    errors: list[dict[str, object]] = []
    if mode not in MODES:
        errors.append({"index": None, "field": "mode", "message": "choose how subscriptions are handled"})
    elif mode == "subscribe_everyone" and not consent_confirmed:
        errors.append(
            {
                "index": None,
                "field": "consent_confirmed",
                "message": "confirm that every contact in the file gave explicit consent to be contacted",
            }
        )
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
    tags = sorted(set(tag_ids))
    if tags:
        found = set(session.scalars(select(Tag.id).where(Tag.organization_id == organization_id, Tag.id.in_(tags))))
        if found != set(tags):
            errors.append({"index": None, "field": "tags", "message": "unknown tag"})
    lists = sorted(set(list_ids))
    if lists:
        found = set(
            session.scalars(
                select(AudienceList.id).where(
                    AudienceList.organization_id == organization_id, AudienceList.id.in_(lists)
                )
            )
        )
        if found != set(lists):
            errors.append({"index": None, "field": "lists", "message": "unknown list"})
    if errors:
        raise InvalidInput(str(errors[0]["message"]), errors)
    item.mode = mode
    item.mapping = clean
    item.tag_ids = tags
    item.list_ids = lists
    item.consent_confirmed = bool(consent_confirmed)
    item.status = QUEUED_IMPORT
    item.queued_at = utcnow()
    return item


# --- the worker step ------------------------------------------------------------------------------------


@dataclass
class _RowResult:
    record: dict[str, Any] | None
    issues: list[tuple[str | None, str | None, str]]
    blank: bool = False


class _RowBuilder:
    """Turns raw CSV rows into canonical ContactRecord dicts (validated with the ingest normalisers)."""

    def __init__(self, item: ContactImport, tag_names: list[str], region: str) -> None:
        self.index = {field: item.header.index(column) for column, field in item.mapping.items()}
        self.opt_in, self.via = MODES[item.mode or "dont_change"]
        self.tag_names = tag_names
        self.list_ids = [int(i) for i in item.list_ids]
        self.region = region
        self.genres = set(known_genres())
        self.new_tags: set[str] = set()

    def _cell(self, row: list[str], field: str) -> str:
        position = self.index.get(field)
        if position is None or position >= len(row):
            return ""
        return row[position].strip()

    def build(self, row: list[str]) -> _RowResult:
        if not any(cell.strip() for cell in row):
            return _RowResult(None, [], blank=True)
        issues: list[tuple[str | None, str | None, str]] = []
        contact: dict[str, Any] = {}
        raw_email = self._cell(row, "email")
        raw_phone = self._cell(row, "phone")
        if raw_email:
            try:
                contact["email"] = normalize_email(raw_email)
            except ValueError as exc:
                issues.append(("email", raw_email, f"email {exc}"))
        if raw_phone:
            try:
                contact["phone"] = normalize_phone(raw_phone, self.region)
            except ValueError as exc:
                issues.append(("phone", raw_phone, f"phone {exc}"))
        if not raw_email and not raw_phone:
            issues.append((None, None, "no email and no phone"))
        for field in ("full_name", "first_name", "last_name", "address"):
            value = self._cell(row, field)
            if value:
                contact[field] = value[: _LIMITS[field]]
        birthday = self._cell(row, "birthday")
        if birthday:
            try:
                contact["birthday"] = parse_date(birthday)
            except ValueError as exc:
                issues.append(("birthday", birthday, f"birthday {exc}"))
        tags = list(self.tag_names)
        for tag in split_values(self._cell(row, "tags")):
            tag = tag[:200]
            if tag not in tags:
                tags.append(tag)
                self.new_tags.add(tag)
        genres: list[str] = []
        for genre in split_values(self._cell(row, "genres")):
            if genre not in self.genres:
                issues.append(("genres", genre, f"genre {genre!r} is not on the genre list"))
            elif genre not in genres:
                genres.append(genre)
        if issues:
            return _RowResult(None, issues)
        contact["tags"] = tags
        contact["genres"] = genres
        opt_ins = {
            "email": self.opt_in if "email" in contact else None,
            "sms": self.opt_in if "phone" in contact else None,
        }
        return _RowResult({"contact": contact, "opt_ins": opt_ins, "via": self.via, "list_ids": self.list_ids}, [])


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


def _enqueue_chunk(session: Session, item: ContactImport, chunk: ImportChunk) -> None:
    organization = get_organization(session, item.organization_id)
    region = organization.phone_region or get_settings().default_phone_region
    tag_names = []
    if item.tag_ids:
        tag_names = list(
            session.scalars(
                select(Tag.name).where(Tag.organization_id == item.organization_id, Tag.id.in_(item.tag_ids))
            )
        )
    builder = _RowBuilder(item, tag_names, region)
    records: list[dict[str, Any]] = []
    issues: list[dict[str, Any]] = []
    skipped = 0
    for offset, row in enumerate(json.loads(chunk.rows)):
        result = builder.build(row)
        if result.blank:
            skipped += 1
        elif result.record is None:
            issues += [
                {"import_id": item.id, "row": chunk.first_row + offset, "field": f, "value": v, "message": m}
                for f, v, m in result.issues
            ]
            item.rejected += 1
        else:
            records.append(result.record)
    if builder.new_tags:
        # Tags named in the file are created here: importing staff may create tags (the API may not).
        existing = set(
            session.scalars(
                select(Tag.name).where(Tag.organization_id == item.organization_id, Tag.name.in_(builder.new_tags))
            )
        )
        for name in sorted(builder.new_tags - existing):
            session.add(Tag(organization_id=item.organization_id, name=name))
        session.flush()
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
    failed: list[str] = []
    for status, stats, count, errors in rows:
        if status == APPLIED:
            stats = stats or {}
            created += int(stats.get("contacts_created", 0))
            merged += int(count) - int(stats.get("contacts_created", 0))
            changes += int(stats.get("consent_changes", 0))
        elif status == FAILED:
            failed.append("; ".join(str(e.get("message")) for e in (errors or [])) or "failed")
    item.created, item.merged, item.consent_changes = created, merged, changes
    item.status = FAILED_IMPORT if failed else DONE
    item.error = failed[0][:2000] if failed else None
    item.finished_at = utcnow()
    return True


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
        "error": item.error,
    }


def import_issues(
    session: Session, organization_id: int, public_id: str, limit: int | None = None
) -> list[ImportIssue]:
    item = get_import(session, organization_id, public_id)
    query = select(ImportIssue).where(ImportIssue.import_id == item.id).order_by(ImportIssue.row, ImportIssue.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
