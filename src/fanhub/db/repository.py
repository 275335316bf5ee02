"""`Repository`: the organization filter written once, for every domain's queries.

After Polar's `kit/repository/base.py`: a domain's repository subclasses `Repository[Model]` for a
model with an `organization_id` column, and every statement it builds starts from
`readable(organization_id)`. Another organization's id is then simply not found: `get` raises
`NotFound` for it exactly as for an id that does not exist, and `owned_ids` drops it.

Repositories own queries; services own rules; front doors (API, manager, MCP, CLI) call services.
`db/bulk.py` stays the fast write path beneath, for the ingest's set-at-a-time writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fanhub.db.bulk import values_in
from fanhub.errors import NotFound
from fanhub.pagination import Page, PageRequest, paginate

ModelT = TypeVar("ModelT")


class Repository(Generic[ModelT]):
    model: ClassVar[Any]
    # How a missing row is named in errors ("contact 7 not found").
    noun: ClassVar[str] = "item"

    def __init__(self, session: Session) -> None:
        self.session = session

    def readable(self, organization_id: int) -> Select[tuple[ModelT]]:
        """Every statement about this model starts here: the tenant filter."""
        return select(self.model).where(self.model.organization_id == organization_id)

    def get(self, organization_id: int, item_id: int) -> ModelT:
        """The row, or NotFound: another organization's row is not found either."""
        row = self.session.get(self.model, item_id)
        if row is None or row.organization_id != organization_id:
            raise NotFound(f"{self.noun} {item_id} not found")
        result: ModelT = row
        return result

    def get_public(self, organization_id: int, public_id: str) -> ModelT:
        """The row with this public id (batches, imports), or NotFound, as `get`."""
        row: Any = self.session.scalars(self.readable(organization_id).where(self.model.public_id == public_id)).first()
        if row is None:
            raise NotFound(f"{self.noun} {public_id} not found")
        result: ModelT = row
        return result

    def owned_ids(self, organization_id: int, ids: Iterable[int]) -> set[int]:
        """The ids among `ids` that belong to the organization (the others are dropped)."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        query = select(self.model.id).where(
            self.model.organization_id == organization_id, values_in(self.model.id, wanted)
        )
        return {int(i) for i in self.session.scalars(query)}

    def paginate(self, statement: Select[Any], request: PageRequest) -> Page[Any]:
        return paginate(self.session, statement, request)
