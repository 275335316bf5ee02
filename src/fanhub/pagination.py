"""One pagination style for every list: `page` (from 1) and `per_page` (at most 100), plus `has_more`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    per_page: int = 10

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    per_page: int
    has_more: bool


def paginate(session: Session, query: Select[Any], request: PageRequest, *, scalars: bool = True) -> Page[Any]:
    """Fetch one page; one extra row tells whether another page exists, without a COUNT(*)."""
    limited = query.limit(request.per_page + 1).offset(request.offset)
    rows = list(session.scalars(limited) if scalars else session.execute(limited))
    return Page(rows[: request.per_page], request.page, request.per_page, len(rows) > request.per_page)
