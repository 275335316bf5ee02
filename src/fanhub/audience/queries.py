"""Read side of the audience: contacts with their consent, tags, lists, genres and source records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.audience.identity import try_normalize_email, try_normalize_phone
from fanhub.audience.models import (
    AudienceList,
    ConsentEvent,
    Contact,
    ContactGenre,
    ContactInterest,
    ContactList,
    ContactSource,
    ContactTag,
    Tag,
)
from fanhub.errors import NotFound
from fanhub.pagination import Page, PageRequest, paginate
from fanhub.timeutil import iso_utc


def find_contacts(
    session: Session,
    organization_id: int,
    request: PageRequest,
    *,
    email: str | None = None,
    phone: str | None = None,
    tag: str | None = None,
    list_id: int | None = None,
) -> Page[dict[str, Any]]:
    """Contacts matching every given filter; email and phone are matched after normalisation."""
    query = select(Contact).where(Contact.organization_id == organization_id)
    if email is not None:
        query = query.where(Contact.email == (try_normalize_email(email) or email.strip().lower()))
    if phone is not None:
        query = query.where(Contact.phone == (try_normalize_phone(phone) or phone.strip()))
    if tag is not None:
        query = query.where(
            Contact.id.in_(
                select(ContactTag.contact_id)
                .join(Tag, Tag.id == ContactTag.tag_id)
                .where(Tag.organization_id == organization_id, Tag.name == tag)
            )
        )
    if list_id is not None:
        query = query.where(Contact.id.in_(select(ContactList.contact_id).where(ContactList.list_id == list_id)))
    page = paginate(session, query.order_by(Contact.id), request)
    return Page(contact_views(session, page.items), page.page, page.per_page, page.has_more)


def get_contact(
    session: Session, organization_id: int, contact_id: int, *, with_ledger: bool = False
) -> dict[str, Any]:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.organization_id != organization_id:
        raise NotFound(f"contact {contact_id} not found")
    view = contact_views(session, [contact])[0]
    if with_ledger:
        view["consent_history"] = consent_history(session, contact_id)
    return view


def consent_history(session: Session, contact_id: int) -> list[dict[str, Any]]:
    query = select(ConsentEvent).where(ConsentEvent.contact_id == contact_id).order_by(ConsentEvent.id)
    return [
        {
            "channel": e.channel,
            "subscribed": e.subscribed,
            "source": e.source,
            "via": e.via,
            "raw_value": e.raw_value,
            "batch_id": e.batch_id,
            "occurred_at": iso_utc(e.occurred_at),
            "recorded_at": iso_utc(e.recorded_at),
        }
        for e in session.scalars(query)
    ]


def contact_views(session: Session, contacts: Sequence[Contact]) -> list[dict[str, Any]]:
    ids = [c.id for c in contacts]
    tags: dict[int, list[str]] = defaultdict(list)
    lists: dict[int, list[dict[str, Any]]] = defaultdict(list)
    genres: dict[int, list[str]] = defaultdict(list)
    sources: dict[int, list[dict[str, Any]]] = defaultdict(list)
    interests: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for cid, name in session.execute(
            select(ContactTag.contact_id, Tag.name)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id.in_(ids))
            .order_by(Tag.name)
        ):
            tags[cid].append(name)
        for cid, lid, name in session.execute(
            select(ContactList.contact_id, AudienceList.id, AudienceList.name)
            .join(AudienceList, AudienceList.id == ContactList.list_id)
            .where(ContactList.contact_id.in_(ids))
            .order_by(AudienceList.id)
        ):
            lists[cid].append({"id": lid, "name": name})
        for cid, genre in session.execute(
            select(ContactGenre.contact_id, ContactGenre.genre)
            .where(ContactGenre.contact_id.in_(ids))
            .order_by(ContactGenre.genre)
        ):
            genres[cid].append(genre)
        for s in session.scalars(
            select(ContactSource)
            .where(ContactSource.contact_id.in_(ids))
            .order_by(ContactSource.first_seen_at, ContactSource.id)
        ):
            sources[s.contact_id].append(
                {
                    "source": s.source,
                    "email": s.email,
                    "phone": s.phone,
                    "name": s.name,
                    "records": s.records,
                    "first_seen_at": iso_utc(s.first_seen_at),
                    "last_seen_at": iso_utc(s.last_seen_at),
                }
            )
        for i in session.scalars(
            select(ContactInterest).where(ContactInterest.contact_id.in_(ids)).order_by(ContactInterest.id)
        ):
            interests[i.contact_id].append(
                {
                    "event_id": i.event_external_id,
                    "ticketer": i.ticketer,
                    "ticket_url": i.ticket_url,
                    "source": i.source,
                    "created_at": iso_utc(i.created_at),
                }
            )
    return [
        {
            "id": c.id,
            "email": c.email,
            "phone": c.phone,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "full_name": c.full_name,
            "address": c.address,
            "birthday": c.birthday,
            "subscriptions": {
                "email": {"status": c.email_status, "changed_at": iso_utc(c.email_status_at)},
                "sms": {"status": c.sms_status, "changed_at": iso_utc(c.sms_status_at)},
            },
            "tags": tags[c.id],
            "lists": lists[c.id],
            "genres": genres[c.id],
            "interests": interests[c.id],
            "sources": sources[c.id],
            "created_at": iso_utc(c.created_at),
            "updated_at": iso_utc(c.updated_at),
        }
        for c in contacts
    ]
