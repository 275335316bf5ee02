"""Tags and lists on contacts: one rule for every front door (manager, MCP, and later the API).

The rule, decided once (the manager used to drop ids of other organizations silently and MCP
refused them):
- every contact id must belong to the caller's organization; otherwise nothing changes and the error
  names the ids not found (another organization's contact is simply not found);
- at most `MAX_CONTACTS` ids per call (the same cap for every front door; a change over every
  contact matching a filter is `audience/bulk_labels.py`, in batches);
- the tag or list must belong to the organization (NotFound otherwise);
- the caller needs the write permission; the change never touches consent;
- contacts that gained the tag or list are announced like any other writer's
  (`service.labels_added`: automations' `tag_added` / `list_joined` triggers); adding staff-chosen
  contacts to a list lifts a list opt-out of theirs (`list_optouts.py`);
- a change is what really changed: contacts that already had the tag (adding) or did not have it
  (removing) are not part of it. What changed is kept (`label_changes` + `label_change_members`)
  so the change can be undone exactly (`bulk_labels.undo_label_change`).

The statements here are set-based and report the rows they touched (INSERT ... SELECT ...
RETURNING, DELETE ... RETURNING), so what is recorded is exactly what the statement did, even
when another writer tags the same contacts at the same moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Select, delete, exists, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fanhub.audience import list_optouts
from fanhub.audience.models import (
    AudienceList,
    Contact,
    ContactList,
    ContactTag,
    LabelChangeLog,
    LabelChangeMember,
    Tag,
)
from fanhub.audience.repository import ContactRepository, ListRepository, TagRepository
from fanhub.audience.service import labels_added
from fanhub.auth.actor import WRITE, Actor
from fanhub.db.bulk import insert_rows, values_in
from fanhub.db.repository import Repository
from fanhub.errors import InvalidInput, NotFound

MAX_CONTACTS = 1000
TAG, LIST = "tag", "list"
SELECTION, FILTER = "selection", "filter"
RUNNING, DONE, STOPPED = "running", "done", "stopped"


@dataclass(frozen=True)
class _Kind:
    repository: type[Repository[Any]]
    link: Any
    column: str


_KINDS: dict[str, _Kind] = {
    TAG: _Kind(TagRepository, ContactTag, "tag_id"),
    LIST: _Kind(ListRepository, ContactList, "list_id"),
}


@dataclass(frozen=True)
class LabelChange:
    kind: str
    label_id: int
    name: str
    contact_ids: list[int]
    changed: int
    # The recorded change to undo (None when nothing changed).
    change_id: int | None = None
    # Whether the contacts got the label (False: they lost it).
    added: bool = True

    describe: ClassVar[dict[tuple[str, bool], str]] = {
        (TAG, True): "Tagged {n} contact(s) with {name}.",
        (TAG, False): "Removed {name} from {n} contact(s).",
        (LIST, True): "Added {n} contact(s) to {name}.",
        (LIST, False): "Removed {n} contact(s) from {name}.",
    }


def change_labels(
    session: Session, actor: Actor, kind: str, label_id: int, contact_ids: Sequence[int], add: bool
) -> LabelChange:
    """Add (or remove) a tag or list on contacts under the rule above; `changed` counts real changes."""
    label = writable_label(session, actor, kind, label_id)
    ids = _owned_contact_ids(session, actor.organization_id, contact_ids)
    chosen = select(Contact.id).where(Contact.organization_id == actor.organization_id, values_in(Contact.id, ids))
    if add and kind == LIST:
        # Staff naming these contacts is explicit: it lifts a list a person had left (list_optouts.py).
        list_optouts.clear(session, actor.organization_id, [(i, label.id) for i in ids])
    changed = link_batch(session, kind, label.id, chosen, add)
    if add:
        labels_added(session, actor.organization_id, kind, [(i, label.id) for i in changed])
    change_id = None
    if changed:
        log = start_change(session, actor, kind, label, add, SELECTION)
        record_members(session, log, changed)
        log.status = DONE
        change_id = log.id
    return LabelChange(kind, label.id, label.name, ids, len(changed), change_id, add)


def writable_label(session: Session, actor: Actor, kind: str, label_id: int) -> Tag | AudienceList:
    """The organization's tag or list, when the actor may change who carries it."""
    if not actor.can(WRITE):
        raise NotFound(f"{kind} {label_id} not found")
    if kind not in _KINDS:
        raise InvalidInput("choose a tag or a list", [{"index": None, "field": "kind", "message": "tag or list"}])
    label: Tag | AudienceList = _KINDS[kind].repository(session).get(actor.organization_id, label_id)
    return label


def link_batch(session: Session, kind: str, label_id: int, chosen: Select[Any], add: bool) -> list[int]:
    """Put the label on (or take it off) the contacts `chosen` selects (a `select(Contact.id)` with its
    conditions); returns the ids of the contacts that really changed, in one statement."""
    spec = _KINDS[kind]
    link, column = spec.link, getattr(spec.link, spec.column)
    if add:
        lacking = chosen.where(~carrying(kind, label_id))
        rows = lacking.with_only_columns(Contact.id, literal(label_id, column.type))
        statement = _insert(session, link).from_select(["contact_id", spec.column], rows)
        # Another writer may add the same pair meanwhile (PostgreSQL, read committed): theirs stands.
        statement = statement.on_conflict_do_nothing().returning(link.contact_id)
        return sorted(int(i) for i in session.execute(statement).scalars())
    removal = delete(link).where(column == label_id, link.contact_id.in_(chosen)).returning(link.contact_id)
    result = session.execute(removal, execution_options={"synchronize_session": False})
    return sorted(int(i) for i in result.scalars())


def carrying(kind: str, label_id: int) -> ColumnElement[bool]:
    """True for a contact (of the enclosing query on contacts) that carries this tag or list."""
    spec = _KINDS[kind]
    return exists().where(spec.link.contact_id == Contact.id, getattr(spec.link, spec.column) == label_id)


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def start_change(
    session: Session, actor: Actor, kind: str, label: Tag | AudienceList, add: bool, scope: str
) -> LabelChangeLog:
    log = LabelChangeLog(
        organization_id=actor.organization_id,
        actor=actor.audit,
        kind=kind,
        label_id=label.id,
        label_name=label.name,
        added=add,
        scope=scope,
        status=RUNNING,
        contacts=0,
    )
    session.add(log)
    session.flush()
    return log


def record_members(session: Session, log: LabelChangeLog, contact_ids: Sequence[int]) -> None:
    insert_rows(session, LabelChangeMember, [{"change_id": log.id, "contact_id": i} for i in contact_ids])
    log.contacts += len(contact_ids)


def _owned_contact_ids(session: Session, organization_id: int, contact_ids: Sequence[int]) -> list[int]:
    ids = sorted(set(contact_ids))
    if not ids:
        raise InvalidInput("contact_ids: choose at least one contact", [_ids_error("choose at least one contact")])
    if len(ids) > MAX_CONTACTS:
        message = f"at most {MAX_CONTACTS} contacts per change"
        raise InvalidInput(f"contact_ids: {message}", [_ids_error(message)])
    missing = sorted(set(ids) - ContactRepository(session).owned_ids(organization_id, ids))
    if missing:
        message = f"contacts not found: {', '.join(map(str, missing[:20]))}"
        raise InvalidInput(f"contact_ids: {message}", [_ids_error(message)])
    return ids


def _ids_error(message: str) -> dict[str, object]:
    return {"index": None, "field": "contact_ids", "message": message}
