"""Audience segments: which contacts a campaign goes to.

A segment is `{"tags": [...], "list_ids": [...], "genres": [...], "bought_event_ids": [...],
"interested_event_ids": [...]}`. Keys combine with AND, the values of one key with OR, and an empty
segment (or an empty list) means everyone. Every segment is restricted to contacts currently
subscribed on the channel: email needs an address (stored normalised, so valid) and
`email_status = subscribed`; SMS needs an E.164 phone and `sms_status = subscribed`.

Each key becomes one `contacts.id IN (subquery)` served by the link tables' (key, contact_id)
indexes, so the database never materialises a join of contacts with tags, lists or orders.

- `tags` are tag names (as the Partners API uses them); `list_ids` are list ids.
- `bought_event_ids` are fanhub event ids; an order counts unless it is canceled or refunded.
- `interested_event_ids` are fanhub event ids, matched against a contact's `interested_in_event`
  (the event's external id) or a subscribe form's `ticket_url` (the event's URL).
- `min_rating` (a whole number 1-5, not a list) keeps contacts whose engagement rating on the
  segment's channel is at least that many stars: `email_rating` for an email campaign,
  `sms_rating` for SMS (the rule: deliverability/engagement.py). Audience counts apply it per channel.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.audience.models import SUBSCRIBED, Contact, ContactGenre, ContactInterest, ContactList, ContactTag, Tag
from fanhub.catalog.models import Event, Order
from fanhub.errors import InvalidInput

EMAIL = "email"
SMS = "sms"

# key -> element type
SEGMENT_KEYS: dict[str, type] = {
    "tags": str,
    "list_ids": int,
    "genres": str,
    "bought_event_ids": int,
    "interested_event_ids": int,
}


def _problem(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", [{"index": None, "field": field, "message": message}])


MIN_RATING = "min_rating"


def _min_rating(value: Any, field: str) -> int:
    # bool is an int in Python; true is no rating.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise _problem(f"{field}.{MIN_RATING}", "must be a whole number of stars from 1 to 5")
    return value


def validate_segment(segment: Any, field: str = "audience") -> dict[str, Any]:
    """A clean copy of `segment` (None = everyone); unknown keys and wrong types name the key."""
    if segment is None:
        return {}
    if not isinstance(segment, dict):
        raise _problem(field, 'must be an object such as {"tags": ["VIP"]}')
    clean: dict[str, Any] = {}
    for key, values in segment.items():
        if key == MIN_RATING:
            if values is not None:
                clean[MIN_RATING] = _min_rating(values, field)
            continue
        kind = SEGMENT_KEYS.get(key)
        if kind is None:
            raise _problem(f"{field}.{key}", f"unknown key; use one of {', '.join([*SEGMENT_KEYS, MIN_RATING])}")
        if values is None:
            continue
        if not isinstance(values, list):
            raise _problem(f"{field}.{key}", "must be a list")
        for index, value in enumerate(values):
            # bool is an int in Python; a true/false list id is a mistake.
            if isinstance(value, bool) or not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
                expected = "an integer id" if kind is int else "a non-empty string"
                raise _problem(f"{field}.{key}[{index}]", f"must be {expected}")
        if values:
            clean[key] = sorted({str(v).strip() if kind is str else v for v in values})
    return clean


def _channel_filter(channel: str) -> list[Any]:
    if channel == EMAIL:
        return [Contact.email.is_not(None), Contact.email_status == SUBSCRIBED]
    if channel == SMS:
        return [Contact.phone.is_not(None), Contact.phone.like("+%"), Contact.sms_status == SUBSCRIBED]
    raise _problem("channel", f"unknown channel {channel!r}")


def segment_query(organization_id: int, segment: Any, channel: str, *, suppressed: bool | None = False) -> Select[Any]:
    """SELECT of the ids of the organization's contacts in `segment` who are subscribed on `channel`:
    by default those whose address is not on the suppression list (never recipients); with
    `suppressed=True` only those whose address is, and with None both."""
    clean = validate_segment(segment)
    query = select(Contact.id).where(Contact.organization_id == organization_id, *_channel_filter(channel))
    if suppressed is not None:
        kept = suppression.not_suppressed(organization_id, Contact.email if channel == EMAIL else Contact.phone)
        query = query.where(~kept if suppressed else kept)
    if MIN_RATING in clean:
        rating = Contact.email_rating if channel == EMAIL else Contact.sms_rating
        query = query.where(rating >= clean[MIN_RATING])
    if "tags" in clean:
        tag_ids = select(Tag.id).where(Tag.organization_id == organization_id, Tag.name.in_(clean["tags"]))
        query = query.where(Contact.id.in_(select(ContactTag.contact_id).where(ContactTag.tag_id.in_(tag_ids))))
    if "list_ids" in clean:
        query = query.where(
            Contact.id.in_(select(ContactList.contact_id).where(ContactList.list_id.in_(clean["list_ids"])))
        )
    if "genres" in clean:
        query = query.where(
            Contact.id.in_(select(ContactGenre.contact_id).where(ContactGenre.genre.in_(clean["genres"])))
        )
    if "bought_event_ids" in clean:
        buyers = select(Order.contact_id).where(
            Order.organization_id == organization_id,
            Order.event_id.in_(clean["bought_event_ids"]),
            Order.status.not_in(("canceled", "refunded")),
        )
        query = query.where(Contact.id.in_(buyers))
    if "interested_event_ids" in clean:
        events = select(Event.external_id, Event.url).where(
            Event.organization_id == organization_id, Event.id.in_(clean["interested_event_ids"])
        )
        external_ids = select(events.subquery().c.external_id)
        urls = select(Event.url).where(
            Event.organization_id == organization_id,
            Event.id.in_(clean["interested_event_ids"]),
            Event.url.is_not(None),
        )
        interested = select(ContactInterest.contact_id).where(
            ContactInterest.organization_id == organization_id,
            or_(ContactInterest.event_external_id.in_(external_ids), ContactInterest.ticket_url.in_(urls)),
        )
        query = query.where(Contact.id.in_(interested))
    return query


def count_audience(session: Session, organization_id: int, segment: Any) -> dict[str, int]:
    """How many contacts the segment reaches on each channel (suppressed addresses left out)."""
    counts: dict[str, int] = {}
    for channel in (EMAIL, SMS):
        counts[channel] = count_segment(session, organization_id, segment, channel)
    return counts


def count_segment(
    session: Session, organization_id: int, segment: Any, channel: str, *, suppressed: bool | None = False
) -> int:
    inner = segment_query(organization_id, segment, channel, suppressed=suppressed).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)
