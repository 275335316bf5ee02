"""Read side of the audience: contacts with their consent, tags, lists, genres and source records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from fanhub.addresses import try_normalize_email, try_normalize_phone
from fanhub.audience.models import (
    CONSENT_STATES,
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
from fanhub.audience.repository import ContactRepository
from fanhub.catalog.models import Event, Order
from fanhub.db.text import like_pattern
from fanhub.errors import NotFound
from fanhub.pagination import Page, PageRequest, paginate
from fanhub.timeutil import iso_utc

STATUSES = CONSENT_STATES


@dataclass
class ContactFilter:
    """Every way staff, partners and assistants find contacts; all given filters must hold.

    `q` is what a person types in a search box: an email or a phone number (any format) is matched
    exactly after normalisation, anything else as a substring of the name or email. `email` and
    `phone` are exact matches after normalisation. `from_params` reads the manager's query string
    (bad values are dropped).
    """

    q: str = ""
    email: str | None = None
    phone: str | None = None
    tag_id: int | None = None
    tag_name: str | None = None
    list_id: int | None = None
    genre: str = ""
    email_status: str = ""
    sms_status: str = ""
    bought_event_id: int | None = None
    interested_event_id: int | None = None
    # Engagement rating (deliverability/engagement.py) of at least this many stars, on `rating_channel`.
    min_rating: int | None = None
    rating_channel: str = "email"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Any) -> ContactFilter:
        def as_id(name: str) -> int | None:
            raw = str(params.get(name, "") or "").strip()
            return int(raw) if raw.isdigit() and len(raw) < 18 else None

        def choice(name: str) -> str:
            raw = str(params.get(name, "") or "").strip()
            return raw if raw in STATUSES else ""

        stars = str(params.get("min_rating", "") or "").strip()

        return cls(
            q=str(params.get("q", "") or "").strip()[:200],
            tag_id=as_id("tag"),
            list_id=as_id("list"),
            genre=str(params.get("genre", "") or "").strip()[:60],
            email_status=choice("email"),
            sms_status=choice("sms"),
            bought_event_id=as_id("bought"),
            interested_event_id=as_id("interested"),
            min_rating=int(stars) if stars in ("1", "2", "3", "4", "5") else None,
            rating_channel="sms" if params.get("rating_channel") == "sms" else "email",
        )

    def params(self) -> dict[str, str]:
        values = {
            "q": self.q,
            "tag": self.tag_id,
            "list": self.list_id,
            "genre": self.genre,
            "email": self.email_status,
            "sms": self.sms_status,
            "bought": self.bought_event_id,
            "interested": self.interested_event_id,
            "min_rating": self.min_rating,
            "rating_channel": self.rating_channel if self.min_rating and self.rating_channel != "email" else None,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def contact_query(organization_id: int, f: ContactFilter) -> Select[Any]:
    query = select(Contact).where(Contact.organization_id == organization_id)
    if f.q:
        email = try_normalize_email(f.q) if "@" in f.q else None
        digits = sum(ch.isdigit() for ch in f.q)
        phone = try_normalize_phone(f.q) if digits >= 6 and "@" not in f.q else None
        if email:
            query = query.where(Contact.email == email)
        elif phone:
            query = query.where(Contact.phone == phone)
        else:
            pattern = like_pattern(f.q.lower())
            query = query.where(
                or_(
                    func.lower(func.coalesce(Contact.full_name, "")).like(pattern, escape="\\"),
                    func.lower(func.coalesce(Contact.first_name, "") + " " + func.coalesce(Contact.last_name, "")).like(
                        pattern, escape="\\"
                    ),
                    func.coalesce(Contact.email, "").like(pattern, escape="\\"),
                )
            )
    if f.email is not None:
        query = query.where(Contact.email == (try_normalize_email(f.email) or f.email.strip().lower()))
    if f.phone is not None:
        query = query.where(Contact.phone == (try_normalize_phone(f.phone) or f.phone.strip()))
    if f.tag_name is not None:
        query = query.where(
            Contact.id.in_(
                select(ContactTag.contact_id)
                .join(Tag, Tag.id == ContactTag.tag_id)
                .where(Tag.organization_id == organization_id, Tag.name == f.tag_name)
            )
        )
    if f.tag_id is not None:
        query = query.where(Contact.id.in_(select(ContactTag.contact_id).where(ContactTag.tag_id == f.tag_id)))
    if f.list_id is not None:
        query = query.where(Contact.id.in_(select(ContactList.contact_id).where(ContactList.list_id == f.list_id)))
    if f.genre:
        query = query.where(Contact.id.in_(select(ContactGenre.contact_id).where(ContactGenre.genre == f.genre)))
    if f.email_status:
        query = query.where(Contact.email_status == f.email_status)
    if f.sms_status:
        query = query.where(Contact.sms_status == f.sms_status)
    if f.min_rating is not None:
        rating = Contact.sms_rating if f.rating_channel == "sms" else Contact.email_rating
        query = query.where(rating >= f.min_rating)
    if f.bought_event_id is not None:
        query = query.where(
            Contact.id.in_(
                select(Order.contact_id).where(
                    Order.organization_id == organization_id,
                    Order.event_id == f.bought_event_id,
                    Order.status == "completed",
                )
            )
        )
    if f.interested_event_id is not None:
        event = select(Event.external_id).where(
            Event.organization_id == organization_id, Event.id == f.interested_event_id
        )
        url = select(Event.url).where(Event.organization_id == organization_id, Event.id == f.interested_event_id)
        query = query.where(
            Contact.id.in_(
                select(ContactInterest.contact_id).where(
                    ContactInterest.organization_id == organization_id,
                    or_(
                        ContactInterest.event_external_id.in_(event),
                        ContactInterest.ticket_url.in_(url),
                    ),
                )
            )
        )
    return query


def find_contacts(
    session: Session, organization_id: int, request: PageRequest, contact_filter: ContactFilter
) -> Page[dict[str, Any]]:
    """A page of contacts (by id) matching the filter, as the read API, MCP and exports show them."""
    page = paginate(session, contact_query(organization_id, contact_filter).order_by(Contact.id), request)
    return Page(contact_views(session, page.items), page.page, page.per_page, page.has_more)


def find_contact_id_by_email(session: Session, organization_id: int, email: str) -> int:
    normalized = try_normalize_email(email) or email.strip().lower()
    contact_id = session.scalar(
        select(Contact.id).where(Contact.organization_id == organization_id, Contact.email == normalized)
    )
    if contact_id is None:
        raise NotFound(f"contact with email {email!r} not found")
    return int(contact_id)


def get_contact(
    session: Session, organization_id: int, contact_id: int, *, with_ledger: bool = False
) -> dict[str, Any]:
    contact = ContactRepository(session).get(organization_id, contact_id)
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
            "status": e.status,
            "source": e.source,
            "via": e.via,
            "raw_value": e.raw_value,
            "actor": e.actor,
            "batch_id": e.batch_id,
            "occurred_at": iso_utc(e.occurred_at),
            "recorded_at": iso_utc(e.recorded_at),
            # Proof of consent, set when a signup form made the change (else None).
            "form_id": e.form_id,
            "consent_text": e.consent_text,
            "page_url": e.page_url,
            "ip": e.ip,
            "user_agent": e.user_agent,
        }
        for e in session.scalars(query)
    ]


def contact_views(session: Session, contacts: Sequence[Contact]) -> list[dict[str, Any]]:
    ids = [c.id for c in contacts]
    if not ids:
        return []
    # One query per related table for the whole page, not one per contact.
    tags = _tag_names(session, ids)
    lists = _list_refs(session, ids)
    genres = _genres(session, ids)
    sources = _source_views(session, ids)
    interests = _interest_views(session, ids)
    return [
        {
            "id": c.id,
            "email": c.email,
            "phone": c.phone,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "full_name": c.full_name,
            "address": c.address,
            "postal_code": c.postal_code,
            "birthday": c.birthday,
            "subscriptions": {
                "email": {"status": c.email_status, "changed_at": iso_utc(c.email_status_at), "rating": c.email_rating},
                "sms": {"status": c.sms_status, "changed_at": iso_utc(c.sms_status_at), "rating": c.sms_rating},
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


def _tag_names(session: Session, ids: list[int]) -> defaultdict[int, list[str]]:
    """Each contact's tag names, alphabetical."""
    tags: defaultdict[int, list[str]] = defaultdict(list)
    for cid, name in session.execute(
        select(ContactTag.contact_id, Tag.name)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(ContactTag.contact_id.in_(ids))
        .order_by(Tag.name)
    ):
        tags[cid].append(name)
    return tags


def _list_refs(session: Session, ids: list[int]) -> defaultdict[int, list[dict[str, Any]]]:
    """Each contact's lists as {"id", "name"}, by list id."""
    lists: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for cid, lid, name in session.execute(
        select(ContactList.contact_id, AudienceList.id, AudienceList.name)
        .join(AudienceList, AudienceList.id == ContactList.list_id)
        .where(ContactList.contact_id.in_(ids))
        .order_by(AudienceList.id)
    ):
        lists[cid].append({"id": lid, "name": name})
    return lists


def _genres(session: Session, ids: list[int]) -> defaultdict[int, list[str]]:
    """Each contact's genres, alphabetical."""
    genres: defaultdict[int, list[str]] = defaultdict(list)
    for cid, genre in session.execute(
        select(ContactGenre.contact_id, ContactGenre.genre)
        .where(ContactGenre.contact_id.in_(ids))
        .order_by(ContactGenre.genre)
    ):
        genres[cid].append(genre)
    return genres


def _source_views(session: Session, ids: list[int]) -> defaultdict[int, list[dict[str, Any]]]:
    """Each contact's source records (what each source knows of it), first seen first."""
    sources: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
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
    return sources


def _interest_views(session: Session, ids: list[int]) -> defaultdict[int, list[dict[str, Any]]]:
    """Each contact's event interests, oldest first."""
    interests: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
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
    return interests
