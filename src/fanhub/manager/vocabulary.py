"""Renaming and deleting tags and lists (creating them is `audience.service.create_tag/create_list`).

Deleting a tag or list removes it from every contact (the link rows cascade); a Partners API call
naming a deleted tag gets 422 again, as for a tag never created.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fanhub.audience.models import AudienceList, ContactList, ContactTag, Tag
from fanhub.errors import InvalidInput, NotFound

KINDS: dict[str, tuple[Any, Any, str]] = {
    "tag": (Tag, ContactTag, "tag_id"),
    "list": (AudienceList, ContactList, "list_id"),
}


def _owned(session: Session, kind: str, organization_id: int, item_id: int) -> Any:
    model = KINDS[kind][0]
    item = session.get(model, item_id)
    if item is None or item.organization_id != organization_id:
        raise NotFound(f"{kind} {item_id} not found")
    return item


def rename(session: Session, kind: str, organization_id: int, item_id: int, name: str) -> Any:
    item = _owned(session, kind, organization_id, item_id)
    model = KINDS[kind][0]
    name = name.strip()
    if not name:
        raise InvalidInput(f"{kind} name must not be empty", [{"index": None, "field": "name", "message": "required"}])
    if len(name) > 200:
        raise InvalidInput(f"{kind} name is too long", [{"index": None, "field": "name", "message": "too long"}])
    clash = session.scalars(
        select(model).where(model.organization_id == organization_id, model.name == name, model.id != item_id)
    ).first()
    if clash is not None:
        raise InvalidInput(
            f"{kind} {name!r} already exists", [{"index": None, "field": "name", "message": "already exists"}]
        )
    item.name = name
    return item


def remove(session: Session, kind: str, organization_id: int, item_id: int) -> None:
    item = _owned(session, kind, organization_id, item_id)
    _, link, column = KINDS[kind]
    session.execute(delete(link).where(getattr(link, column) == item_id))
    session.delete(item)


def with_counts(session: Session, kind: str, organization_id: int) -> list[tuple[Any, int]]:
    model, link, column = KINDS[kind]
    rows = session.execute(
        select(getattr(link, column), func.count())
        .where(getattr(link, column).in_(select(model.id).where(model.organization_id == organization_id)))
        .group_by(getattr(link, column))
    )
    counts = {item_id: count for item_id, count in rows}
    items = session.scalars(select(model).where(model.organization_id == organization_id).order_by(model.name))
    return [(item, int(counts.get(item.id, 0))) for item in items]
