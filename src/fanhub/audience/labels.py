"""Tags and lists on contacts: one rule for every front door (manager, MCP, and later the API).

The rule, decided once (the manager used to drop ids of other organizations silently and MCP
refused them):
- every contact id must belong to the caller's organization; otherwise nothing changes and the error
  names the ids not found (another organization's contact is simply not found);
- at most `MAX_CONTACTS` ids per call (the same cap for every front door; bulk changes over a whole
  filter are a separate operation);
- the tag or list must belong to the organization (NotFound otherwise);
- the caller needs the write permission; the change never touches consent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fanhub.audience.models import ContactList, ContactTag
from fanhub.audience.repository import ContactRepository, ListRepository, TagRepository
from fanhub.audience.service import AudienceWriter
from fanhub.auth.actor import WRITE, Actor
from fanhub.db.bulk import values_in
from fanhub.db.repository import Repository
from fanhub.errors import InvalidInput, NotFound

MAX_CONTACTS = 1000
TAG, LIST = "tag", "list"


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
    if not actor.can(WRITE):
        raise NotFound(f"{kind} {label_id} not found")
    if kind not in _KINDS:
        raise InvalidInput("choose a tag or a list", [{"index": None, "field": "kind", "message": "tag or list"}])
    spec = _KINDS[kind]
    label = spec.repository(session).get(actor.organization_id, label_id)
    ids = _owned_contact_ids(session, actor.organization_id, contact_ids)
    link = spec.link
    column = getattr(link, spec.column)
    present = set(session.scalars(select(link.contact_id).where(column == label.id, values_in(link.contact_id, ids))))
    if add:
        writer = AudienceWriter(session, actor.organization_id, actor.audit)
        pairs = [(contact_id, label.id) for contact_id in ids]
        if kind == TAG:
            writer.add_tags(pairs)
        else:
            writer.add_lists(pairs)
        changed = len(set(ids) - present)
    else:
        session.execute(delete(link).where(column == label.id, values_in(link.contact_id, sorted(present))))
        changed = len(present)
    return LabelChange(kind, label.id, label.name, ids, changed)


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
