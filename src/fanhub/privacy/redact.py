"""The second half of an erasure: the raw batches ingest keeps as its replay store.

Every accepted batch stays in `ingest_payloads` exactly as sent, so the person's records from a
partner, a connector or an import are still there after `erase.py` cleared the tables. Finding them
means reading the organization's payloads, far too slow for the erasure itself (1M contacts arrive
in thousands of batches), so an erasure queues a `Redaction` instead: the person's addresses,
encrypted with the deployment secret (`secrets.encrypt_text`), and a cursor. The worker job
(`redact_step`) reads the organization's applied batches after the cursor, a bounded number per
turn, finds those whose JSON holds one of the addresses (a LIKE in SQL, then the JSON itself), and
blanks the personal fields of every record naming the person (email, phone, names, address, postal
code, IP, birthday), leaving the other records, the amounts and the batch alone. When the cursor
reaches the end the job moves on to the other stores that keep copies (`privacy/stores.py`: CSV
import rows, connector webhook bodies, suppression removals in the audit log, the MCP call log),
one at a time: `status` names the store it is walking (`pending` is the raw batches) and
`after_batch_id` is the last row id it looked at there. When the last store is walked the
redaction is done and its addresses are dropped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from fanhub.addresses import try_normalize_email, try_normalize_phone
from fanhub.db.base import Base, BigId, utcnow
from fanhub.db.engine import Database
from fanhub.ingest.models import QUEUED, IngestBatch, IngestPayload
from fanhub.privacy import stores
from fanhub.privacy.scrub import Needles
from fanhub.privacy.stores import Walk
from fanhub.secrets import decrypt_text, encrypt_text

PENDING = "pending"
DONE = "done"
BATCHES_PER_STEP = 200
PERSONAL_KEYS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "full_name",
    "name",
    "address",
    "postal_code",
    "ip_address",
    "birthday",
)


class Redaction(Base):
    """An erased person's raw batches still to be redacted (one per erasure)."""

    __tablename__ = "erasure_redactions"
    __table_args__ = (Index("ix_erasure_redactions_status", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    contact_id: Mapped[int] = mapped_column(BigId)
    # Fernet token of the JSON list of addresses; emptied when done.
    needles: Mapped[str] = mapped_column(Text, default="")
    after_batch_id: Mapped[int] = mapped_column(BigId, default=0)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    redacted: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


def queue(session: Session, organization_id: int, contact_id: int, addresses: set[str]) -> None:
    """Queue the redaction of these addresses from the organization's raw batches."""
    if addresses:
        token = encrypt_text(json.dumps(sorted(addresses)))
        session.add(Redaction(organization_id=organization_id, contact_id=contact_id, needles=token))


def _normal(value: str) -> set[str]:
    found = {value.strip().lower()}
    for normalized in (try_normalize_email(value), try_normalize_phone(value)):
        if normalized:
            found.add(normalized.lower())
    return found


def redact_record(node: Any, needles: set[str]) -> bool:
    """Blanks, in place, the personal fields of every object in `node` whose email or phone is one of
    the needles; whether anything changed."""
    changed = False
    if isinstance(node, list):
        for item in node:
            changed = redact_record(item, needles) or changed
    elif isinstance(node, dict):
        named = any(isinstance(node.get(k), str) and _normal(node[k]) & needles for k in ("email", "phone"))
        if named:
            for key in PERSONAL_KEYS:
                if node.get(key) is not None:
                    node[key] = None
                    changed = True
        for value in node.values():
            if isinstance(value, dict | list):
                changed = redact_record(value, needles) or changed
    return changed


def redact_step(database: Database, limit: int = BATCHES_PER_STEP) -> bool:
    """Worker job: one bounded step of the oldest unfinished redaction; whether there was one."""
    with database.write() as session:
        stages = (PENDING, *stores.STORES)
        job = session.scalars(
            select(Redaction).where(Redaction.status.in_(stages)).order_by(Redaction.id).limit(1)
        ).first()
        if job is None:
            return False
        addresses = json.loads(decrypt_text(job.needles))
        if job.status == PENDING:
            cursor = _batches_step(session, job, addresses, limit)
        else:
            walk = Walk(job.organization_id, addresses, Needles.of(addresses), job.after_batch_id, limit)
            cursor, changed = stores.STORES[job.status](session, walk)
            job.redacted += changed
        if cursor is not None:
            job.after_batch_id = cursor
            return True
        later = stages[stages.index(job.status) + 1 :]
        if later:
            job.status, job.after_batch_id = later[0], 0
        else:
            job.status, job.needles, job.finished_at = DONE, "", utcnow()
    return True


def _batches_step(session: Session, job: Redaction, addresses: list[str], limit: int) -> int | None:
    """The raw batches after the cursor, a bounded number; the last batch id, or None at the end."""
    needles = {n for a in addresses for n in _normal(a)}
    batch_ids = list(
        session.scalars(
            select(IngestBatch.id)
            .where(IngestBatch.organization_id == job.organization_id, IngestBatch.id > job.after_batch_id)
            .where(IngestBatch.status != QUEUED)
            .order_by(IngestBatch.id)
            .limit(limit)
        )
    )
    if batch_ids:
        job.redacted += _redact_batches(session, batch_ids, addresses, needles)
    return batch_ids[-1] if len(batch_ids) == limit else None


def _redact_batches(session: Session, batch_ids: list[int], addresses: list[str], needles: set[str]) -> int:
    """Redacts the payloads among `batch_ids` that name one of the addresses; how many changed."""
    mentions = or_(*(IngestPayload.payload.icontains(a, autoescape=True) for a in addresses))
    rows = session.execute(
        select(IngestPayload.batch_id, IngestPayload.payload).where(IngestPayload.batch_id.in_(batch_ids), mentions)
    ).all()
    changed = 0
    for batch_id, payload in rows:
        document = json.loads(payload)
        if redact_record(document, needles):
            session.execute(
                update(IngestPayload)
                .where(IngestPayload.batch_id == batch_id)
                .values(payload=json.dumps(document, separators=(",", ":")))
            )
            changed += 1
    return changed
