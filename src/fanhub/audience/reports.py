"""The audience as staff views it: the contacts table with keyset pagination (filters are
`audience.queries.ContactFilter`), counts, export order, labels per contact, and the dashboard's
audience figures and subscriptions per day.

Everything filters on the organization first. Consent rules are not read here: the states shown
are the cached states the apply path keeps (`contacts.email_status` / `sms_status`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from fanhub.audience.models import (
    SUBSCRIBED,
    AudienceList,
    ConsentEvent,
    Contact,
    ContactGenre,
    ContactList,
    ContactTag,
    Tag,
)
from fanhub.audience.queries import ContactFilter, contact_query

PAGE_SIZE = 50


def contacts_page(
    session: Session, organization_id: int, f: ContactFilter, after: int | None, size: int = PAGE_SIZE
) -> tuple[list[Contact], int | None]:
    """One page of contacts, newest first, after the keyset cursor; returns the next cursor or None."""
    query = contact_query(organization_id, f)
    if after is not None:
        query = query.where(Contact.id < after)
    rows = list(session.scalars(query.order_by(Contact.id.desc()).limit(size + 1)))
    next_cursor = rows[size - 1].id if len(rows) > size else None
    return rows[:size], next_cursor


def count_contacts_matching(session: Session, organization_id: int, f: ContactFilter) -> int:
    inner = contact_query(organization_id, f).with_only_columns(Contact.id).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


def iter_contacts(session: Session, organization_id: int, f: ContactFilter, chunk: int = 1000) -> Iterator[Contact]:
    """Every matching contact (for export), read in keyset chunks."""
    after: int | None = None
    while True:
        rows, after = contacts_page(session, organization_id, f, after, chunk)
        yield from rows
        if after is None:
            return


def labels_for(session: Session, contact_ids: list[int]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    tags: dict[int, list[str]] = {}
    lists: dict[int, list[str]] = {}
    if contact_ids:
        for cid, name in session.execute(
            select(ContactTag.contact_id, Tag.name)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id.in_(contact_ids))
            .order_by(Tag.name)
        ):
            tags.setdefault(cid, []).append(name)
        for cid, name in session.execute(
            select(ContactList.contact_id, AudienceList.name)
            .join(AudienceList, AudienceList.id == ContactList.list_id)
            .where(ContactList.contact_id.in_(contact_ids))
            .order_by(AudienceList.name)
        ):
            lists.setdefault(cid, []).append(name)
    return tags, lists


def genres_for(session: Session, contact_ids: list[int]) -> dict[int, list[str]]:
    """Each contact's genres, sorted, for the contacts table."""
    found: dict[int, list[str]] = {}
    if contact_ids:
        for cid, genre in session.execute(
            select(ContactGenre.contact_id, ContactGenre.genre)
            .where(ContactGenre.contact_id.in_(contact_ids))
            .order_by(ContactGenre.genre)
        ):
            found.setdefault(cid, []).append(genre)
    return found


def audience_figures(session: Session, organization_id: int) -> dict[str, int]:
    """Audience size and subscribers per channel; each count is served by an (organization, state) index."""

    def count(*conditions: Any) -> int:
        query = select(func.count()).select_from(Contact).where(Contact.organization_id == organization_id, *conditions)
        return int(session.scalar(query) or 0)

    return {
        "contacts": count(),
        "email_subscribers": count(Contact.email_status == SUBSCRIBED),
        "sms_subscribers": count(Contact.sms_status == SUBSCRIBED),
    }


def consent_series(session: Session, organization_id: int, days: int = 30) -> dict[str, Any]:
    """Per UTC day over the last `days`: new subscriptions and unsubscribes (both channels), and the net.

    One range count per day over the (organization, occurred_at, subscribed) index: no per-row date
    function, so a million-contact organization answers in tens of milliseconds.
    """
    today = datetime.now(UTC).date()
    start = today - timedelta(days=days - 1)
    labels: list[str] = []
    sub_values: list[float] = []
    unsub_values: list[float] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        begin = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        total, subscribed = session.execute(
            select(func.count(), func.coalesce(func.sum(case((ConsentEvent.subscribed, 1), else_=0)), 0)).where(
                ConsentEvent.organization_id == organization_id,
                ConsentEvent.occurred_at >= begin,
                ConsentEvent.occurred_at < begin + timedelta(days=1),
            )
        ).one()
        labels.append(day.isoformat()[5:])
        sub_values.append(float(subscribed or 0))
        unsub_values.append(float((total or 0) - (subscribed or 0)))
    return {
        "labels": labels,
        "subscribed": sub_values,
        "unsubscribed": unsub_values,
        "net": sum(sub_values) - sum(unsub_values),
    }
