"""A tag or list on every contact matching a filter, and the undo of any tag or list change.

The rule (the per-selection rule, capped at 1,000 ids, is `labels.change_labels`):
- the filter is the contacts table's own (`queries.ContactFilter`, through `queries.contact_query`),
  so what staff saw counted is what changes; it is always scoped to the actor's organization;
- the caller needs the write permission (without it the tag or list is not found, as for a selection);
- only real changes count and are recorded: contacts that already had the tag (adding) or did not
  have it (removing) are left out, so the undo gives back exactly the state before;
- consent is never touched;
- each batch announces the contacts it really gave the tag or list (`service.labels_added`, one
  call per batch: automations enroll them set-based); adding a list skips people who left it
  themselves (`list_optouts.py`). An undo is a correction, not an addition: undoing a removal
  puts labels back without announcing them, and undoing an add does not take anyone out of a flow.

Size: the filter is applied in batches of `BATCH` contacts by id range, each one transaction of two
set-based statements (INSERT ... SELECT or DELETE ... WHERE contact_id IN (the filter's
subquery), then the changed ids into `label_change_members`). No IN list is built in Python, and
the write lock (SQLite's single writer) is released between batches, so imports and sends go on
while a million contacts are tagged. The change is `running` until the last batch and `done`
after; a failure leaves it `stopped` with what was done recorded, still undoable.

Undo: allowed once, by the organization that made the change, for `done` or `stopped` changes. It
claims the change with one conditional UPDATE (a second undo, even at the same moment, finds it
claimed and is refused), then reverses the recorded contacts in the same batches: an add's undo
takes the label off exactly those contacts, a removal's undo puts it back on exactly those (that
still exist). Both the bulk change and its undo are written to the organization's audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from fanhub.audience import list_optouts
from fanhub.audience.labels import (
    DONE,
    FILTER,
    LIST,
    RUNNING,
    STOPPED,
    LabelChange,
    carrying,
    link_batch,
    record_members,
    start_change,
    writable_label,
)
from fanhub.audience.models import Contact, LabelChangeLog, LabelChangeMember
from fanhub.audience.queries import ContactFilter, contact_query
from fanhub.audience.service import labels_added
from fanhub.auth.actor import WRITE, Actor
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations import audit

BATCH = 5000


@dataclass(frozen=True)
class BulkPreview:
    """What a change over a filter would do: the contacts matching it, and how many would change."""

    kind: str
    label_id: int
    name: str
    add: bool
    matching: int
    changing: int


def preview_matching_change(
    session: Session, actor: Actor, kind: str, label_id: int, contact_filter: ContactFilter, add: bool
) -> BulkPreview:
    """The counts staff confirm before `change_labels_matching` (nothing is changed)."""
    label = writable_label(session, actor, kind, label_id)
    matching = _count(contact_query(actor.organization_id, contact_filter).with_only_columns(Contact.id))
    carries = carrying(kind, label.id)
    changing_query = _changeable(contact_query(actor.organization_id, contact_filter), kind, label.id, add)
    changing_query = changing_query.where(~carries if add else carries)
    return BulkPreview(
        kind,
        label.id,
        label.name,
        add,
        int(session.scalar(matching) or 0),
        int(session.scalar(_count(changing_query.with_only_columns(Contact.id))) or 0),
    )


def _changeable(query: Select[Any], kind: str, label_id: int, add: bool) -> Select[Any]:
    """A filter names nobody explicitly: adding a list skips the people who left it themselves."""
    return query.where(~list_optouts.opted_out(label_id)) if add and kind == LIST else query


def _count(query: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(query.subquery())


def change_labels_matching(
    database: Database,
    actor: Actor,
    kind: str,
    label_id: int,
    contact_filter: ContactFilter,
    add: bool,
    batch: int = BATCH,
) -> LabelChange:
    """Add (or remove) a tag or list on every contact matching the filter, batch by batch (see above)."""
    organization_id = actor.organization_id
    with database.write() as session:
        label = writable_label(session, actor, kind, label_id)
        log = start_change(session, actor, kind, label, add, FILTER)
        change_id, name = log.id, label.name
    changed, after = 0, 0
    try:
        while True:
            with database.write() as session:
                matching = _changeable(contact_query(organization_id, contact_filter), kind, label_id, add)
                matching = matching.with_only_columns(Contact.id)
                end = _batch_end(session, matching.where(Contact.id > after), Contact.id, batch)
                chosen = matching.where(Contact.id > after, *([Contact.id <= end] if end is not None else []))
                ids = link_batch(session, kind, label_id, chosen, add)
                record_members(session, _log(session, change_id), ids)
                if add:
                    labels_added(session, organization_id, kind, [(i, label_id) for i in ids])
            changed += len(ids)
            if end is None:
                break
            after = end
    except BaseException:
        _finish(database, change_id, STOPPED)
        raise
    details = {"change": change_id, kind: name, "added": add, "filter": contact_filter.params(), "contacts": changed}
    _finish(database, change_id, DONE, actor, "labels.bulk", details)
    return LabelChange(kind, label_id, name, [], changed, change_id if changed else None, add)


def _batch_end(session: Session, query: Select[Any], column: Any, batch: int) -> int | None:
    """The id that closes the next batch of `query` (ids ascending), or None when fewer remain."""
    end = session.scalar(query.order_by(column).offset(batch - 1).limit(1))
    return None if end is None else int(end)


def _log(session: Session, change_id: int) -> LabelChangeLog:
    log = session.get(LabelChangeLog, change_id)
    assert log is not None  # written by this change before its first batch
    return log


def _finish(
    database: Database,
    change_id: int,
    status: str,
    actor: Actor | None = None,
    action: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    with database.write() as session:
        log = _log(session, change_id)
        log.status = status
        if actor is not None:
            audit.record(session, log.organization_id, actor.audit, action, None, details or {})


def undo_label_change(database: Database, actor: Actor, change_id: int, batch: int = BATCH) -> LabelChange:
    """Reverse exactly what change `change_id` changed (see above); returns the reversal (its `added`
    is the opposite of the change's)."""
    with database.write() as session:
        log = _claim(session, actor, change_id)
        kind, label_id, added, name, organization_id = (
            log.kind,
            log.label_id,
            log.added,
            log.label_name,
            log.organization_id,
        )
        writable_label(session, actor, kind, label_id)  # a deleted tag or list has nothing to give back
    reversed_count, after = 0, 0
    members = select(LabelChangeMember.contact_id).where(LabelChangeMember.change_id == change_id)
    try:
        while True:
            with database.write() as session:
                end = _batch_end(
                    session, members.where(LabelChangeMember.contact_id > after), LabelChangeMember.contact_id, batch
                )
                these = members.where(
                    LabelChangeMember.contact_id > after,
                    *([LabelChangeMember.contact_id <= end] if end is not None else []),
                )
                chosen = select(Contact.id).where(Contact.organization_id == organization_id, Contact.id.in_(these))
                reversed_count += len(link_batch(session, kind, label_id, chosen, not added))
            if end is None:
                break
            after = end
    except BaseException:
        # Each batch is safe to run again, so a failed undo is released to be tried again.
        with database.write() as session:
            _log(session, change_id).undone_at = None
        raise
    with database.write() as session:
        details = {"change": change_id, kind: name, "added": added, "contacts": reversed_count}
        audit.record(session, organization_id, actor.audit, "labels.undo", None, details)
    return LabelChange(kind, label_id, name, [], reversed_count, change_id, not added)


def _claim(session: Session, actor: Actor, change_id: int) -> LabelChangeLog:
    """Mark the change undone, or refuse: another organization's (not found), undone, still running."""
    log = session.scalar(
        select(LabelChangeLog).where(
            LabelChangeLog.id == change_id, LabelChangeLog.organization_id == actor.organization_id
        )
    )
    if log is None or not actor.can(WRITE):
        raise NotFound(f"change {change_id} not found")
    claimed = session.execute(
        update(LabelChangeLog)
        .where(LabelChangeLog.id == change_id, LabelChangeLog.undone_at.is_(None), LabelChangeLog.status != RUNNING)
        .values(undone_at=utcnow(), undone_by=actor.audit)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(log)
        reason = "it was already undone" if log.undone_at is not None else "it is still being applied"
        raise InvalidInput(f"change {change_id} cannot be undone: {reason}", [_change_error(reason)])
    return log


def _change_error(message: str) -> dict[str, Any]:
    return {"index": None, "field": "change", "message": message}


@dataclass(frozen=True)
class ChangeView:
    id: int
    kind: str
    name: str
    added: bool
    contacts: int
    undoable: bool


def get_label_change(session: Session, organization_id: int, change_id: int) -> ChangeView | None:
    """A change of this organization, for the notice that reports it (None if not found)."""
    log = session.scalar(
        select(LabelChangeLog).where(LabelChangeLog.id == change_id, LabelChangeLog.organization_id == organization_id)
    )
    if log is None:
        return None
    undoable = log.undone_at is None and log.status != RUNNING and log.contacts > 0
    return ChangeView(log.id, log.kind, log.label_name, log.added, log.contacts, undoable)
