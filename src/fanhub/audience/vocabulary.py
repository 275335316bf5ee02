"""The organization's vocabulary that incoming contacts must use: tags, lists, genres and ticketers.

Tags and lists are created by staff first (as in Cymbal: `audience.service.create_tag/create_list`),
and renamed or deleted here; deleting one removes it from every contact, and a Partners API call
naming it gets 422 again. Genres and ticketers are deployment-wide data files (`audience/data/*.txt`,
overridable with FANHUB_GENRES_FILE / FANHUB_TICKETERS_FILE).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fanhub.audience.models import AudienceList, ContactList, ContactTag, Tag
from fanhub.audience.service import existing_list_ids, tag_ids_by_name
from fanhub.config import get_settings
from fanhub.errors import InvalidInput, NotFound

_DATA = Path(__file__).parent / "data"


def _read_words(path: Path) -> tuple[str, ...]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


@lru_cache
def genres() -> tuple[str, ...]:
    return _read_words(get_settings().genres_file or _DATA / "genres.txt")


def canonical_genre(name: str) -> str:
    """The genre list's spelling of `name`, matched case-insensitively (unknown names come back as given)."""
    wanted = name.strip().lower()
    return next((genre for genre in genres() if genre.lower() == wanted), name.strip())


@lru_cache
def ticketers() -> tuple[str, ...]:
    return _read_words(get_settings().ticketers_file or _DATA / "ticketers.txt")


class VocabularyCheck:
    """Collects `{index, field, message}` errors for values the organization does not know."""

    def __init__(self, session: Session, organization_id: int) -> None:
        self.session = session
        self.organization_id = organization_id
        self.errors: list[dict[str, object]] = []

    def check(self, items: Sequence[tuple[int | None, str, list[str], int | None, list[str], str | None]]) -> None:
        """Each item: (index, field prefix, tags, list_id, genres, ticketer)."""
        known_tags = tag_ids_by_name(self.session, self.organization_id, {t for i in items for t in i[2]})
        known_lists = existing_list_ids(self.session, self.organization_id, {i[3] for i in items if i[3] is not None})
        known_genres = set(genres())
        known_ticketers = set(ticketers())
        for index, prefix, tags, list_id, item_genres, ticketer in items:
            for position, tag in enumerate(tags):
                if tag not in known_tags:
                    self._error(
                        index,
                        f"{prefix}.tags[{position}]",
                        f"tag {tag!r} does not exist in this organization; create it first",
                    )
            if list_id is not None and list_id not in known_lists:
                self._error(index, f"{prefix}.list_id", f"list {list_id} does not exist in this organization")
            for position, genre in enumerate(item_genres):
                if genre not in known_genres:
                    self._error(
                        index,
                        f"{prefix}.genres[{position}]",
                        f"genre {genre!r} is not on the genre list (GET /v1/partners/genres)",
                    )
            if ticketer is not None and ticketer not in known_ticketers:
                self._error(
                    index,
                    "interested_in_event.ticketer" if index is None else f"{prefix}.ticketer",
                    f"ticketer {ticketer!r} is not supported; one of: {', '.join(known_ticketers)}",
                )

    def _error(self, index: int | None, field: str, message: str) -> None:
        self.errors.append({"index": index, "field": field, "message": message})


# --- renaming and deleting tags and lists ---------------------------------------------------------

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


def set_public(session: Session, organization_id: int, list_id: int, public: bool) -> AudienceList:
    """Make a list public (offered on every recipient's preference center) or private (shown there
    only to its members); its members stay as they are either way."""
    item: AudienceList = _owned(session, "list", organization_id, list_id)
    item.public = public
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
