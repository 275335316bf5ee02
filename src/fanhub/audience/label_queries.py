"""Reading tags and lists: pages of the organization's tags and lists with how many contacts carry each,
and checking the tag names, list ids, genres and event ids a segment names (so a campaign aimed at a
misspelt tag is refused, not aimed at nobody)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fanhub.audience.models import AudienceList, ContactList, ContactTag, Tag
from fanhub.audience.repository import ListRepository, TagRepository
from fanhub.audience.segments import validate_segment
from fanhub.audience.service import existing_list_ids, tag_ids_by_name
from fanhub.audience.vocabulary import canonical_genre, genres
from fanhub.catalog.repository import EventRepository
from fanhub.db.bulk import values_in
from fanhub.db.text import like_pattern
from fanhub.errors import InvalidInput
from fanhub.pagination import Page, PageRequest
from fanhub.timeutil import iso_utc


def page_tags(
    session: Session, organization_id: int, request: PageRequest, query: str | None = None
) -> Page[dict[str, Any]]:
    """Tags by name, each with its number of contacts; `query` finds text in the name."""
    repository = TagRepository(session)
    stmt = _named(repository.readable(organization_id), Tag.name, query).order_by(Tag.name, Tag.id)
    page: Page[Tag] = repository.paginate(stmt, request)
    counts = _counts(session, ContactTag.tag_id, [t.id for t in page.items])
    return Page([_view(t, counts) for t in page.items], page.page, page.per_page, page.has_more)


def page_lists(
    session: Session, organization_id: int, request: PageRequest, query: str | None = None
) -> Page[dict[str, Any]]:
    """Lists by name, each with its number of contacts; `query` finds text in the name."""
    repository = ListRepository(session)
    stmt = _named(repository.readable(organization_id), AudienceList.name, query)
    page: Page[AudienceList] = repository.paginate(stmt.order_by(AudienceList.name, AudienceList.id), request)
    counts = _counts(session, ContactList.list_id, [a.id for a in page.items])
    return Page([_view(a, counts) for a in page.items], page.page, page.per_page, page.has_more)


def _named(stmt: Select[Any], column: Any, query: str | None) -> Select[Any]:
    if query and query.strip():
        stmt = stmt.where(func.lower(column).like(like_pattern(query.strip().lower()), escape="\\"))
    return stmt


def _counts(session: Session, column: Any, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    query = select(column, func.count()).where(values_in(column, ids)).group_by(column)
    return {int(key): int(count) for key, count in session.execute(query)}


def _view(label: Tag | AudienceList, counts: dict[int, int]) -> dict[str, Any]:
    return {
        "id": label.id,
        "name": label.name,
        "contacts": counts.get(label.id, 0),
        "created_at": iso_utc(label.created_at),
    }


def check_segment_names(
    session: Session, organization_id: int, segment: Any, field: str = "audience"
) -> dict[str, Any]:
    """The clean segment, or `InvalidInput` naming the first tag, list, genre or event it names that
    this organization does not have (field e.g. `audience.tags`)."""
    clean = validate_segment(segment, field)
    problems: list[tuple[str, str]] = []
    tags = clean.get("tags", [])
    known_tags = tag_ids_by_name(session, organization_id, tags)
    problems += [("tags", f"no tag named {t!r} in this organization") for t in tags if t not in known_tags]
    lists = clean.get("list_ids", [])
    known_lists = existing_list_ids(session, organization_id, lists)
    problems += [("list_ids", f"no list {n} in this organization") for n in lists if n not in known_lists]
    vocabulary = set(genres())
    problems += [("genres", _unknown_genre(g)) for g in clean.get("genres", []) if g not in vocabulary]
    events = EventRepository(session)
    for key in ("bought_event_ids", "interested_event_ids"):
        ids = clean.get(key, [])
        owned = events.owned_ids(organization_id, ids)
        problems += [(key, f"event {e} not found in this organization") for e in ids if e not in owned]
    if problems:
        where, message = problems[0]
        raise InvalidInput(
            f"{field}.{where}: {message}", [{"index": None, "field": f"{field}.{where}", "message": message}]
        )
    return clean


def _unknown_genre(name: str) -> str:
    spelt = canonical_genre(name)
    return f"{name!r} is not on the genre list" + (f"; did you mean {spelt!r}?" if spelt != name else "")
