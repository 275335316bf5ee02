"""The stores an erasure's redaction job walks after ingest's raw batches (`privacy/redact.py`), in
order, each a bounded step at a time from a cursor (the last row id it looked at):

- `import_chunks`: the rows of CSV imports not yet run (a draft never configured keeps its chunks
  for good; the worker deletes a chunk once its rows are enqueued as an ingest batch). A row naming
  the person is blanked cell by cell, so it stays a row (counts and row numbers hold) and a queued
  import skips it as blank instead of bringing the person back.
- `imports`: each import's preview (its first rows, kept for the mapping page) and the values of
  its issues (rows refused or values skipped) that name the person, or that belong to a preview
  row blanked here.
- `webhooks`: connector webhook bodies kept for processing and replay, and their last errors.
- `audit`: removals from the suppression list made before the erasure (`suppression.remove`) keep
  the address they lifted; it is replaced by its erased hash, as removals after an erasure record it.
- stores of the layers above privacy, connected by `register` (wiring.py): the MCP call log.

Not walked: the parts of a file still being uploaded (`append_upload_part` keeps them as base64
until the last part arrives, minutes at most; the finished file is parsed into chunks walked here).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from fanhub.audience import suppression
from fanhub.connectors.models import WebhookDelivery
from fanhub.imports.models import UPLOADING, ContactImport, ImportChunk, ImportIssue
from fanhub.organizations.audit import AuditEntry
from fanhub.privacy.scrub import Needles

CHUNKS_PER_STEP = 10  # up to 5,000 rows each


@dataclass(frozen=True)
class Walk:
    """Where a redaction stands in one store: the organization, the erased addresses, the cursor."""

    organization_id: int
    addresses: Sequence[str]
    needles: Needles
    after_id: int
    limit: int


# A store's step: (the last id looked at, or None when the store is done; how many rows changed).
Step = Callable[[Session, Walk], tuple[int | None, int]]


def _page(ids: list[int], walk: Walk) -> int | None:
    return ids[-1] if len(ids) == walk.limit else None


def import_chunks(session: Session, walk: Walk) -> tuple[int | None, int]:
    limit = min(walk.limit, CHUNKS_PER_STEP)
    rows = session.execute(
        select(ImportChunk.id, ImportChunk.rows)
        .join(ContactImport, ContactImport.id == ImportChunk.import_id)
        .where(ContactImport.organization_id == walk.organization_id, ContactImport.status != UPLOADING)
        .where(ImportChunk.id > walk.after_id)
        .order_by(ImportChunk.id)
        .limit(limit)
    ).all()
    changed = 0
    for chunk_id, text in rows:
        cells = json.loads(text)
        if sum([walk.needles.scrub_row(row) for row in cells]):
            session.execute(update(ImportChunk).where(ImportChunk.id == chunk_id).values(rows=json.dumps(cells)))
            changed += 1
    return (rows[-1][0] if len(rows) == limit else None), changed


def imports(session: Session, walk: Walk) -> tuple[int | None, int]:
    items = list(
        session.scalars(
            select(ContactImport)
            .where(ContactImport.organization_id == walk.organization_id, ContactImport.id > walk.after_id)
            .order_by(ContactImport.id)
            .limit(walk.limit)
        )
    )
    changed = 0
    for item in items:
        preview = [list(row) for row in item.preview or []]
        blanked = [index + 2 for index, row in enumerate(preview) if walk.needles.scrub_row(row)]  # header = row 1
        if blanked:
            item.preview = preview
        issues = list(session.scalars(select(ImportIssue).where(ImportIssue.import_id == item.id)))
        touched = [i for i in issues if i.row in blanked or (i.value and walk.needles.names(i.value))]
        for issue in touched:
            issue.value = None
            issue.message = walk.needles.scrub_text(issue.message)
        changed += bool(blanked or touched)
    return _page([i.id for i in items], walk), changed


def json_store(
    model: Any, json_columns: Sequence[str], text_columns: Sequence[str] = (), organization: str = "organization_id"
) -> Step:
    """A step over a table's rows of the organization, blanking the person in its JSON and text columns."""

    def step(session: Session, walk: Walk) -> tuple[int | None, int]:
        key: InstrumentedAttribute[Any] = model.id
        rows = list(
            session.scalars(
                select(model)
                .where(getattr(model, organization) == walk.organization_id, key > walk.after_id)
                .order_by(key)
                .limit(walk.limit)
            )
        )
        changed = 0
        for row in rows:
            hit = False
            for column in json_columns:
                value, found = walk.needles.scrub_json(json.loads(json.dumps(getattr(row, column))))
                if found:
                    setattr(row, column, value)
                    hit = True
            for column in text_columns:
                text = getattr(row, column)
                if text and walk.needles.names(text):
                    setattr(row, column, walk.needles.scrub_text(text))
                    hit = True
            changed += hit
        return _page([r.id for r in rows], walk), changed

    return step


def audit_removals(session: Session, walk: Walk) -> tuple[int | None, int]:
    ids = list(
        session.scalars(
            select(AuditEntry.id)
            .where(AuditEntry.organization_id == walk.organization_id, AuditEntry.id > walk.after_id)
            .order_by(AuditEntry.id)
            .limit(walk.limit)
        )
    )
    plain = {suppression.normalized(a): a for a in walk.addresses}
    changed = 0
    if ids:
        query = select(AuditEntry).where(AuditEntry.id.in_(ids), AuditEntry.action == "suppression.remove")
        for entry in session.scalars(query):
            address = suppression.normalized(str((entry.details or {}).get("address", "")))
            if address in plain:
                hashed = suppression.erased_key(walk.organization_id, plain[address])
                entry.details = {**entry.details, "address": hashed}
                changed += 1
    return _page(ids, walk), changed


STORES: dict[str, Step] = {
    "import_chunks": import_chunks,
    "imports": imports,
    "webhooks": json_store(WebhookDelivery, ("body",), ("last_error",)),
    "audit": audit_removals,
}


def register(name: str, step: Step) -> None:
    """Adds a store of a layer above privacy (at most 16 characters: the job's status names it)."""
    if len(name) > 16:
        raise ValueError(f"store name {name!r} is longer than 16 characters")
    STORES.setdefault(name, step)
