"""List opt-outs: a list a person left themselves stays left until they (or staff, explicitly) join again.

The rule (issue 21), in one place:
- leaving a list on the preference center records an opt-out (`record`: organization, list,
  contact, when, via). Staff taking a contact off a list does not: that was not the person's choice;
- old records naming the list never put the person back: `AudienceWriter.add_lists` (Partners API
  contacts with `list_id`, connectors, CSV imports) skips the (contact, list) pairs opted out
  (`without_optouts`);
- the person joining again themselves (the preference center, a signup form naming the list) or
  staff adding that contact to the list explicitly (a selection of contacts; a change over a whole
  filter is not explicit about anyone and skips them) clears the opt-out (`clear`), and the join
  happens;
- erasing the person deletes their opt-out rows (`privacy/erase.py`); the export lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, select
from sqlalchemy.orm import Session

from fanhub.audience.models import AudienceList, Contact, ListOptOut
from fanhub.db.bulk import insert_rows, values_in
from fanhub.timeutil import iso_utc

PREFERENCE_CENTER = "preference_center"


def record(
    session: Session, organization_id: int, contact_id: int, list_ids: Sequence[int], via: str, at: datetime
) -> None:
    """The person left these lists themselves (an existing opt-out keeps its first date)."""
    wanted = sorted(set(list_ids))
    if not wanted:
        return
    known = set(
        session.scalars(
            select(ListOptOut.list_id).where(ListOptOut.contact_id == contact_id, ListOptOut.list_id.in_(wanted))
        )
    )
    rows = [
        {"organization_id": organization_id, "contact_id": contact_id, "list_id": i, "at": at, "via": via}
        for i in wanted
        if i not in known
    ]
    insert_rows(session, ListOptOut, rows)


def clear(session: Session, organization_id: int, pairs: Sequence[tuple[int, int]]) -> None:
    """The (contact, list) pairs joined again by the person or explicitly by staff: opt-outs lifted."""
    by_list: dict[int, list[int]] = {}
    for contact_id, list_id in set(pairs):
        by_list.setdefault(list_id, []).append(contact_id)
    for list_id, contact_ids in sorted(by_list.items()):
        session.execute(
            delete(ListOptOut)
            .where(
                ListOptOut.organization_id == organization_id,
                ListOptOut.list_id == list_id,
                ListOptOut.contact_id.in_(sorted(contact_ids)),
            )
            .execution_options(synchronize_session=False)
        )


def without_optouts(session: Session, organization_id: int, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs an old record may add: those whose contact did not leave that list themselves."""
    if not pairs:
        return []
    contact_ids = sorted({c for c, _ in pairs})
    query = select(ListOptOut.contact_id, ListOptOut.list_id).where(
        ListOptOut.organization_id == organization_id, values_in(ListOptOut.contact_id, contact_ids)
    )
    opted = {(int(c), int(i)) for c, i in session.execute(query)}
    if not opted:
        return list(pairs)
    return [pair for pair in pairs if pair not in opted]


def opted_out(list_id: int) -> ColumnElement[bool]:
    """True for a contact (of the enclosing query on contacts) who left this list themselves."""
    return exists().where(ListOptOut.contact_id == Contact.id, ListOptOut.list_id == list_id)


def for_contact(session: Session, organization_id: int, contact_id: int) -> list[dict[str, Any]]:
    """The person's opt-outs, for their data export (list id and name, when, via)."""
    query = (
        select(ListOptOut.list_id, AudienceList.name, ListOptOut.at, ListOptOut.via)
        .join(AudienceList, AudienceList.id == ListOptOut.list_id)
        .where(ListOptOut.organization_id == organization_id, ListOptOut.contact_id == contact_id)
        .order_by(ListOptOut.list_id)
    )
    return [
        {"list_id": list_id, "list": name, "at": iso_utc(at), "via": via}
        for list_id, name, at, via in session.execute(query)
    ]
