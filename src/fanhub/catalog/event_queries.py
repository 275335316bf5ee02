"""Finding events from several sources at once (a platform's name stands for all its connections).

`find_events` is the one event search: `catalog.reports.search_events` (the Partners API, the
manager) calls it with one exact source, MCP with every source of a platform
(`catalog/source_queries.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.orm import Session

from fanhub.catalog.models import Event
from fanhub.catalog.queries import event_views
from fanhub.catalog.repository import EventRepository
from fanhub.db.bulk import values_in
from fanhub.db.text import like_pattern
from fanhub.pagination import Page, PageRequest


@dataclass(frozen=True)
class EventFilter:
    status: str | None = None
    sources: Sequence[str] | None = None
    query: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None


def find_events(
    session: Session, organization_id: int, request: PageRequest, wanted: EventFilter
) -> Page[dict[str, Any]]:
    """Events filtered on status, sources, a text query (name, venue, description, external id) and
    start time; soonest first."""
    repository = EventRepository(session)
    stmt = repository.readable(organization_id)
    if wanted.status:
        stmt = stmt.where(Event.status == wanted.status)
    if wanted.sources is not None:
        stmt = stmt.where(values_in(Event.source, sorted(set(wanted.sources))))
    if wanted.starts_from is not None:
        stmt = stmt.where(Event.start_at >= wanted.starts_from)
    if wanted.starts_before is not None:
        stmt = stmt.where(Event.start_at < wanted.starts_before)
    if wanted.query and wanted.query.strip():
        pattern = like_pattern(wanted.query.strip().lower())
        stmt = stmt.where(
            or_(
                func.lower(Event.name).like(pattern, escape="\\"),
                func.lower(func.coalesce(Event.location_name, "")).like(pattern, escape="\\"),
                func.lower(func.coalesce(Event.description, "")).like(pattern, escape="\\"),
                func.lower(Event.external_id).like(pattern, escape="\\"),
            )
        )
    page: Page[Event] = repository.paginate(stmt.order_by(Event.start_at, Event.id), request)
    return Page(event_views(session, page.items), page.page, page.per_page, page.has_more)
