"""The organization's audit log: who did what to which contact, when, with what changed.

Staff edits of a contact are written here, and so are data-rights exports and erasures
(`contact.export`, `contact.erase`, privacy/) and removals from the suppression list
(`suppression.remove`); `page` lists them for `fanhub audit` and the manager's audit page.
Consent changes have their own ledger (`audience/consent.py`); MCP write tools have theirs
(`mcp/models.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fanhub.db.base import Base, BigId, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org_id", "organization_id", "id"),
        Index("ix_audit_log_contact", "contact_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # `Actor.audit`: "staff:3", "cli", "mcp:key:7", ...
    actor: Mapped[str] = mapped_column(String(64))
    # e.g. "contact.edit", "contact.untag", "contact.unlist"
    action: Mapped[str] = mapped_column(String(40))
    contact_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # What changed: {"field": [old, new], ...}, or the tag / list removed.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


def record(
    session: Session, organization_id: int, actor: str, action: str, contact_id: int | None, details: dict[str, Any]
) -> None:
    session.add(
        AuditEntry(organization_id=organization_id, actor=actor, action=action, contact_id=contact_id, details=details)
    )


def contact_entries(session: Session, organization_id: int, contact_id: int, limit: int = 50) -> list[AuditEntry]:
    """A contact's audit entries, newest first."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.organization_id == organization_id, AuditEntry.contact_id == contact_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def page(
    session: Session,
    organization_id: int,
    *,
    page: int = 1,
    per_page: int = 50,
    actions: Sequence[str] | None = None,
) -> tuple[list[AuditEntry], bool]:
    """Page `page` (from 1) of the organization's entries, newest first, optionally only `actions`;
    (entries, has_more)."""
    query = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if actions:
        query = query.where(AuditEntry.action.in_(list(actions)))
    query = query.order_by(AuditEntry.id.desc()).offset((max(1, page) - 1) * per_page).limit(per_page + 1)
    rows = list(session.scalars(query))
    return rows[:per_page], len(rows) > per_page
