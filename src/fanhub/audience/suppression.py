"""The suppression list: addresses no message may go to, whatever their consent says.

Per organization and address (email addresses lowercased as `addresses.normalize_email` does).
Consent is what a person asked for; suppression is what the mail system learned: a hard bounce,
repeated soft bounces, a spam complaint (which also unsubscribes, through `audience/consent.py`),
staff's own entries, an import from another provider. Every send path — campaigns, test sends and
later automations — leaves suppressed addresses out and counts them as `suppressed`.

A suppression is independent of the contact row, so an address that later appears in an order or
an import stays suppressed; only staff lift one (`remove`, audited).

An erased person's addresses (privacy/erase.py) are kept only as keyed hashes (`erased_key`: an
HMAC-SHA256 of the organization and the normalised email or E.164 phone, keyed by the deployment
secret, stored as "hmac:<hex>" in `address`, reason `erased`): listing or exporting the list shows
the hash, never the address. `erased_since` finds them again for the after-erasure consent rule
(`audience/consent.may_subscribe_after_erasure`); only a new explicit opt-in lifts one
(`lift_erased`, audited like a removal).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, delete, exists, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from fanhub.addresses import try_normalize_email
from fanhub.db.base import Base, BigId, utcnow
from fanhub.organizations import audit
from fanhub.secrets import deployment_secret

HARD_BOUNCE = "hard_bounce"
SOFT_BOUNCE = "soft_bounce"
COMPLAINT = "complaint"
MANUAL = "manual"
IMPORTED = "imported"
UNENGAGED = "unengaged"
ERASED = "erased"
REASONS = (HARD_BOUNCE, SOFT_BOUNCE, COMPLAINT, MANUAL, IMPORTED, UNENGAGED, ERASED)


class Suppression(Base):
    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("organization_id", "address"),
        Index("ix_suppressions_org_id", "organization_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(20))
    # Where it came from: "bounce:dsn", "webhook:ses", "smtp", "staff:3", "import:file.csv", "cli".
    source: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def normalized(address: str) -> str:
    return address.strip().lower()


HASH_PREFIX = "hmac:"


def erased_key(organization_id: int, address: str, secret: str | None = None) -> str:
    """The keyed hash an erased address is listed under: the same address in another organization,
    or under another deployment secret, hashes differently, and the address cannot be read back."""
    key = (secret or deployment_secret()).encode()
    message = f"{organization_id}:{normalized(address)}".encode()
    return HASH_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


def suppress_erased(session: Session, organization_id: int, addresses: Iterable[str], source: str) -> int:
    """Lists each address as its keyed hash with reason `erased` (an existing hash keeps its entry)."""
    keys = {erased_key(organization_id, a) for a in addresses if a}
    return suppress_many(session, organization_id, {k: (ERASED, source, None) for k in keys})


def erased_since(session: Session, organization_id: int, addresses: Iterable[str]) -> dict[str, datetime]:
    """{address: when it was erased} for the given addresses whose hash is listed as `erased`."""
    secret = deployment_secret()
    by_key = {erased_key(organization_id, a, secret): a for a in addresses if a}
    found: dict[str, datetime] = {}
    keys = sorted(by_key)
    for start in range(0, len(keys), 500):
        query = select(Suppression.address, Suppression.created_at).where(
            Suppression.organization_id == organization_id,
            Suppression.address.in_(keys[start : start + 500]),
            Suppression.reason == ERASED,
        )
        found.update({by_key[key]: at for key, at in session.execute(query)})
    return found


def lift_erased(session: Session, organization_id: int, address: str, actor: str, via: str) -> bool:
    """Lifts an erased address's hash after a new explicit opt-in (`via`); audited without the address."""
    key = erased_key(organization_id, address)
    entry_id = session.scalar(
        select(Suppression.id).where(Suppression.organization_id == organization_id, Suppression.address == key)
    )
    if entry_id is None:
        return False
    audit.record(
        session, organization_id, actor, "suppression.remove", None, {"address": key, "reason": ERASED, "via": via}
    )
    session.execute(delete(Suppression).where(Suppression.id == entry_id))
    return True


def is_suppressed(session: Session, organization_id: int, address: str | None) -> bool:
    if not address:
        return False
    query = select(Suppression.id).where(
        Suppression.organization_id == organization_id, Suppression.address == normalized(address)
    )
    return session.scalar(query) is not None


def suppressed_among(session: Session, organization_id: int, addresses: Iterable[str]) -> set[str]:
    wanted = {normalized(a) for a in addresses if a}
    if not wanted:
        return set()
    query = select(Suppression.address).where(
        Suppression.organization_id == organization_id, Suppression.address.in_(wanted)
    )
    return set(session.scalars(query))


def not_suppressed(
    organization_id: int | ColumnElement[Any] | InstrumentedAttribute[Any],
    address: ColumnElement[Any] | InstrumentedAttribute[Any],
) -> ColumnElement[bool]:
    """A WHERE clause keeping rows whose `address` column is not on the organization's list."""
    return ~exists().where(Suppression.organization_id == organization_id, Suppression.address == address)


def suppress(
    session: Session, organization_id: int, address: str, reason: str, source: str, detail: str | None = None
) -> bool:
    """Adds the address (idempotent: an existing entry keeps its first reason); True if it was new."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    address = normalized(address)
    if is_suppressed(session, organization_id, address):
        return False
    with session.begin_nested():
        session.add(
            Suppression(
                organization_id=organization_id,
                address=address,
                reason=reason,
                source=source[:200],
                detail=(detail or None) and detail[:1000],
            )
        )
    return True


def suppress_many(session: Session, organization_id: int, entries: Mapping[str, tuple[str, str, str | None]]) -> int:
    """`suppress` for many addresses at once ({address: (reason, source, detail)}): one lookup and
    one INSERT per 500; addresses already listed keep their entry. Returns how many were added."""
    added = 0
    items = [(normalized(a), entry) for a, entry in entries.items()]
    for start in range(0, len(items), 500):
        chunk = dict(items[start : start + 500])
        listed = suppressed_among(session, organization_id, chunk)
        rows = [
            {
                "organization_id": organization_id,
                "address": address,
                "reason": reason,
                "source": source[:200],
                "detail": (detail or None) and detail[:1000],
                "created_at": utcnow(),
            }
            for address, (reason, source, detail) in chunk.items()
            if address not in listed
        ]
        if rows:
            session.execute(insert(Suppression), rows)
            added += len(rows)
    return added


def remove(session: Session, organization_id: int, address: str, actor: str) -> bool:
    """Lifts a suppression; audited (who, when, which address and why it had been suppressed).

    An erased address is found by its hash or by the address itself (hashed here, never stored)."""
    wanted = [normalized(address)]
    if "@" in address or address.strip().startswith("+"):
        wanted.append(erased_key(organization_id, address))
    entry = session.scalar(
        select(Suppression)
        .where(Suppression.organization_id == organization_id, Suppression.address.in_(wanted))
        .limit(1)
    )
    if entry is None:
        return False
    audit.record(
        session,
        organization_id,
        actor,
        "suppression.remove",
        None,
        {"address": entry.address, "reason": entry.reason, "source": entry.source},
    )
    session.execute(delete(Suppression).where(Suppression.id == entry.id))
    return True


def page(
    session: Session, organization_id: int, *, page: int = 1, per_page: int = 100, reason: str | None = None
) -> tuple[Sequence[Suppression], bool]:
    """Page `page` (from 1), newest first; (entries, has_more)."""
    query = select(Suppression).where(Suppression.organization_id == organization_id)
    if reason:
        query = query.where(Suppression.reason == reason)
    query = query.order_by(Suppression.id.desc()).offset((max(1, page) - 1) * per_page).limit(per_page + 1)
    rows = list(session.scalars(query))
    return rows[:per_page], len(rows) > per_page


# Column names other providers export their suppression lists with (Mailchimp "Email Address",
# SendGrid "email", Mailgun "address", Postmark "EmailAddress", SES "EmailAddress").
ADDRESS_COLUMNS = ("address", "email", "email address", "emailaddress", "email_address", "recipient")
REASON_COLUMNS = ("reason", "suppression reason", "type")


def import_csv(session: Session, organization_id: int, rows: Iterable[dict[str, str]], source: str) -> dict[str, int]:
    """Adds every address of a CSV export (reason `imported`, the export's own reason kept as the
    detail); {"read", "added", "already", "invalid"}. Invalid rows are counted, not fatal."""
    counts = {"read": 0, "added": 0, "already": 0, "invalid": 0}
    for row in rows:
        counts["read"] += 1
        fields = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        raw = next((fields[c] for c in ADDRESS_COLUMNS if fields.get(c)), "")
        address = try_normalize_email(raw)
        if address is None:
            counts["invalid"] += 1
            continue
        detail = next((fields[c] for c in REASON_COLUMNS if fields.get(c)), None)
        added = suppress(session, organization_id, address, IMPORTED, source, detail)
        counts["added" if added else "already"] += 1
    return counts


def export_chunk(
    session: Session, organization_id: int, after_id: int = 0, limit: int = 2000
) -> tuple[list[dict[str, str]], int | None]:
    """Entries after `after_id`, oldest first, as CSV rows (address, reason, source, detail,
    created_at), and the id to continue after (None at the end)."""
    entries = list(
        session.scalars(
            select(Suppression)
            .where(Suppression.organization_id == organization_id, Suppression.id > after_id)
            .order_by(Suppression.id)
            .limit(limit)
        )
    )
    rows = [
        {
            "address": e.address,
            "reason": e.reason,
            "source": e.source,
            "detail": e.detail or "",
            "created_at": e.created_at.isoformat(),
        }
        for e in entries
    ]
    return rows, (entries[-1].id if len(entries) == limit else None)
