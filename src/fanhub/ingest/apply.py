"""The one apply path: canonical records of any source become events, orders and contacts.

One function per record kind. Each runs inside the worker's transaction for the batch, so a
batch is applied completely or not at all, and its status flips to `applied` in the same commit.
Upserts are keyed by (organization, source, external id); an identical re-send is detected by
the record's digest and skipped, a changed record updates in place, and later arrival wins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from fanhub.audience.consent import EMAIL, SMS, ConsentChange
from fanhub.audience.service import AudienceWriter, Person, existing_list_ids, tag_ids_by_name
from fanhub.catalog.models import Event, Order, OrderItem, TicketType
from fanhub.db.base import utcnow
from fanhub.db.bulk import insert_returning_ids, insert_rows, update_by_id, values_in
from fanhub.ingest.records import (
    BATCH_MODELS,
    RECORD_TYPES,
    ContactRecord,
    Customer,
    EventRecord,
    OrderRecord,
    locate,
    record_digest,
    validate_record,
)
from fanhub.money import to_minor

log = logging.getLogger(__name__)


@dataclass
class ApplyContext:
    organization_id: int
    source: str
    batch_id: str | None
    received_at: datetime
    phone_region: str | None = None


@dataclass
class ApplyStats:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    contacts_created: int = 0
    consent_changes: int = 0
    # Consent changes taken by "<channel>.<new state>", e.g. {"sms.subscribed": 3}.
    consent_counts: dict[str, int] = field(default_factory=dict)
    changed_order_ids: list[int] = field(default_factory=list)
    # Records left out, as the API's errors: {"index", "field", "message"}.
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: ApplyStats) -> ApplyStats:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.contacts_created += other.contacts_created
        self.consent_changes += other.consent_changes
        for key, count in other.consent_counts.items():
            self.consent_counts[key] = self.consent_counts.get(key, 0) + count
        self.changed_order_ids += other.changed_order_ids
        self.rejected += other.rejected
        return self

    def as_dict(self) -> dict[str, int]:
        result = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "contacts_created": self.contacts_created,
            "consent_changes": self.consent_changes,
        }
        # e.g. "sms_subscribed": 3, "email_unsubscribed": 1 (only the kinds that occurred)
        result.update({key.replace(".", "_"): count for key, count in self.consent_counts.items()})
        if self.rejected:
            result["rejected"] = len(self.rejected)
        return result


OrderListener = Callable[[Session, int, Sequence[int]], None]
# Reactions to new or changed orders from layers above ingest (attribution), added by
# `fanhub.wiring.connect_domains` when a process starts; ingest itself imports none of them.
_order_listeners: list[OrderListener] = []


def on_orders_changed(listener: OrderListener) -> OrderListener:
    """Add a reaction to new or changed orders; it runs inside the apply transaction."""
    if listener not in _order_listeners:
        _order_listeners.append(listener)
    return listener


def _existing(
    session: Session, model: Any, ctx: ApplyContext, external_ids: Sequence[str]
) -> dict[str, tuple[int, str]]:
    if not external_ids:
        return {}
    query = select(model.external_id, model.id, model.record_hash).where(
        model.organization_id == ctx.organization_id,
        model.source == ctx.source,
        values_in(model.external_id, set(external_ids)),
    )
    return {ext: (row_id, digest) for ext, row_id, digest in session.execute(query)}


def _scope(ctx: ApplyContext) -> dict[str, Any]:
    return {"organization_id": ctx.organization_id, "source": ctx.source}


def _last_wins(records: Sequence[Any]) -> list[Any]:
    """Within one batch the later copy of a record wins, as across batches."""
    return list({record.id: record for record in records}.values())


def _new_row(ctx: ApplyContext, external_id: str, now: datetime, values: dict[str, Any]) -> dict[str, Any]:
    """The insert parameters of a record seen for the first time: its key, its creation time, its values."""
    return {
        "organization_id": ctx.organization_id,
        "source": ctx.source,
        "external_id": external_id,
        "created_at": now,
        **values,
    }


def apply_events(session: Session, ctx: ApplyContext, records: Sequence[EventRecord]) -> ApplyStats:
    stats = ApplyStats()
    records = _last_wins(records)
    existing = _existing(session, Event, ctx, [r.id for r in records])
    now = utcnow()
    changed: list[tuple[int, EventRecord]] = []
    new_records: list[EventRecord] = []
    new_params: list[dict[str, Any]] = []
    for record in records:
        digest = record_digest(record)
        known = existing.get(record.id)
        if known is None:
            new_records.append(record)
            new_params.append(_new_row(ctx, record.id, now, _event_values(record, digest, now)))
        elif known[1] == digest:
            stats.unchanged += 1
        else:
            session.execute(update(Event).where(Event.id == known[0]).values(**_event_values(record, digest, now)))
            changed.append((known[0], record))
            stats.updated += 1
    if new_params:
        created = _insert_events(session, ctx, new_params, new_records)
        stats.created = len(created)
        changed.extend(created)
        _link_waiting_orders(session, ctx, created)
    if changed:
        _replace_ticket_types(session, changed)
    return stats


def _event_values(record: EventRecord, digest: str, now: datetime) -> dict[str, Any]:
    """The columns of an event row that a record sets (the same on insert and update)."""
    return {
        "name": record.name,
        "url": record.url,
        "image_url": record.image_url,
        "description": record.description,
        "status": record.status,
        "start_at": record.start_datetime,
        "end_at": record.end_datetime,
        "doors_open_at": record.doors_open_datetime,
        "time_zone": record.time_zone,
        "location_name": record.location.name,
        "location_address": record.location.address,
        "tags": list(record.tags),
        "performers": list(record.performers),
        "record_hash": digest,
        "updated_at": now,
    }


def _insert_events(
    session: Session, ctx: ApplyContext, params: list[dict[str, Any]], records: list[EventRecord]
) -> list[tuple[int, EventRecord]]:
    """Insert new events; each new id paired with the record it came from."""
    ids = insert_returning_ids(session, Event, params, key=("external_id",), scope=_scope(ctx))
    return list(zip(ids, records, strict=True))


def _link_waiting_orders(session: Session, ctx: ApplyContext, created: list[tuple[int, EventRecord]]) -> None:
    """Orders that arrived before their event get linked now."""
    for event_id, record in created:
        session.execute(
            update(Order)
            .where(
                Order.organization_id == ctx.organization_id,
                Order.source == ctx.source,
                Order.event_external_id == record.id,
                Order.event_id.is_(None),
            )
            .values(event_id=event_id)
        )


def _replace_ticket_types(session: Session, changed: list[tuple[int, EventRecord]]) -> None:
    """A new or changed event's ticket types are the record's: the stored ones are replaced whole."""
    ids_to_replace = [event_id for event_id, _ in changed]
    session.execute(delete(TicketType).where(values_in(TicketType.event_id, ids_to_replace)))
    ticket_types = [
        {
            "event_id": event_id,
            "name": tt.name,
            "currency": tt.currency_code,
            "prefee_cents": to_minor(tt.prefee_price, tt.currency_code),
            "total_cents": to_minor(tt.total_price, tt.currency_code),
            "quantity": tt.quantity,
        }
        for event_id, record in changed
        for tt in record.ticket_types
    ]
    if ticket_types:
        insert_rows(session, TicketType, ticket_types)


def _person(customer: Customer) -> Person:
    return Person(
        email=customer.email,
        phone=customer.phone,
        first_name=customer.first_name,
        last_name=customer.last_name,
        address=customer.address,
        ip_address=customer.ip_address,
    )


def _list_state_via(source: str) -> str:
    """How a source's list state is named in the consent ledger: "connector.<platform>" for a platform,
    which the consent rules never let re-subscribe an opt-out (nor a partner's, "order.list_state")."""
    platform = source.split(":", 1)[0]
    return "order.list_state" if platform == "partner" else f"connector.{platform}"


# An order record still to write: the record, its digest, and the stored (id, digest) when it is known.
_PendingOrder = tuple[OrderRecord, str, tuple[int, str] | None]


def apply_orders(session: Session, ctx: ApplyContext, records: Sequence[OrderRecord]) -> ApplyStats:
    stats = ApplyStats()
    todo = _orders_to_write(session, ctx, _last_wins(records), stats)
    if not todo:
        return stats
    audience = AudienceWriter(session, ctx.organization_id, ctx.source, ctx.batch_id)
    people = [_person(record.customer) for record, _, _ in todo]
    contacts = audience.resolve(people)
    stats.consent_changes = audience.apply_consent(_buyer_consent(ctx, todo, contacts))
    audience.flush()
    stats.contacts_created = audience.created
    changed_ids = _write_orders(session, ctx, todo, contacts, stats)
    audience.record_sources(list(zip(contacts, people, strict=True)))
    stats.changed_order_ids = changed_ids
    for listener in _order_listeners:
        listener(session, ctx.organization_id, changed_ids)
    return stats


def _orders_to_write(
    session: Session, ctx: ApplyContext, records: Sequence[OrderRecord], stats: ApplyStats
) -> list[_PendingOrder]:
    """The new and changed records; an identical re-send (same digest) is only counted as unchanged."""
    existing = _existing(session, Order, ctx, [r.id for r in records])
    todo: list[_PendingOrder] = []
    for record in records:
        digest = record_digest(record)
        known = existing.get(record.id)
        if known is not None and known[1] == digest:
            stats.unchanged += 1
        else:
            todo.append((record, digest, known))
    return todo


def _buyer_consent(
    ctx: ApplyContext, todo: Sequence[_PendingOrder], contacts: Sequence[Any]
) -> list[tuple[Any, ConsentChange]]:
    """The consent changes the orders carry: checkout opt-ins, then each buyer's latest platform list state."""
    consent: list[tuple[Any, ConsentChange]] = []
    # A platform's list state: only the latest reading per buyer counts, as it is a state, not an event.
    list_states: dict[int, tuple[Any, ConsentChange]] = {}
    list_via = _list_state_via(ctx.source)
    for (record, _, _), contact in zip(todo, contacts, strict=True):
        placed_at = record.created_at or ctx.received_at
        # A ticked checkout box is an opt-in; an unticked one is not an opt-out (see audience.consent).
        for channel, opted, address in (
            (EMAIL, record.marketing_opt_ins.email, contact.email),
            (SMS, record.marketing_opt_ins.sms, contact.phone),
        ):
            if opted and address:
                consent.append(
                    (contact, ConsentChange(channel, True, "order.marketing_opt_ins", ctx.source, placed_at, "true"))
                )
        if record.list_email_opt_in is not None and contact.email:
            observed_at = record.list_observed_at or placed_at
            latest = list_states.get(id(contact))
            if latest is None or observed_at >= latest[1].observed_at:
                wanted = record.list_email_opt_in
                change = ConsentChange(EMAIL, wanted, list_via, ctx.source, observed_at, str(wanted).lower())
                list_states[id(contact)] = (contact, change)
    consent.extend(sorted(list_states.values(), key=lambda pair: pair[1].observed_at))
    return consent


def _write_orders(
    session: Session, ctx: ApplyContext, todo: Sequence[_PendingOrder], contacts: Sequence[Any], stats: ApplyStats
) -> list[int]:
    """Insert the new orders and update the changed ones with their items; the ids of both."""
    event_ids = _existing(session, Event, ctx, [record.event_id for record, _, _ in todo])
    now = utcnow()
    new_params: list[dict[str, Any]] = []
    new_items: list[list[dict[str, Any]]] = []
    updated_orders: list[dict[str, Any]] = []
    replaced_items: list[dict[str, Any]] = []
    changed_ids: list[int] = []
    for (record, digest, known), contact in zip(todo, contacts, strict=True):
        items = _order_items(record)
        event = event_ids.get(record.event_id)
        values = _order_values(ctx, record, digest, items, contact.id, event[0] if event else None, now)
        if known is None:
            new_params.append(_new_row(ctx, record.id, now, values))
            new_items.append(items)
        else:
            updated_orders.append({"id": known[0], **values})
            replaced_items += [{"order_id": known[0], **i} for i in items]
            changed_ids.append(known[0])
            stats.updated += 1
    if new_params:
        order_ids = _insert_orders(session, ctx, new_params, new_items)
        changed_ids.extend(order_ids)
        stats.created = len(order_ids)
    if updated_orders:
        _replace_orders(session, updated_orders, replaced_items)
    return changed_ids


def _order_items(record: OrderRecord) -> list[dict[str, Any]]:
    """An order's item rows, without the order id (not known yet for a new order)."""
    return [
        {
            "ticket_type_name": item.ticket_type_name,
            "quantity": item.quantity,
            "prefee_cents": to_minor(item.prefee_price, item.currency_code),
            "total_cents": to_minor(item.total_price, item.currency_code) or 0,
            "currency": item.currency_code,
        }
        for item in record.items
    ]


def _order_values(
    ctx: ApplyContext,
    record: OrderRecord,
    digest: str,
    items: list[dict[str, Any]],
    contact_id: int | None,
    event_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The columns of an order row that a record sets (the same on insert and update); totals from its items."""
    currency = record.items[0].currency_code
    return {
        "event_external_id": record.event_id,
        "event_id": event_id,
        "contact_id": contact_id,
        "status": record.status,
        "currency": currency,
        "prefee_cents": sum(int(i["prefee_cents"] or 0) for i in items),
        "total_cents": sum(int(i["total_cents"] or 0) for i in items),
        "refunded_cents": to_minor(record.refunded_amount, currency) or 0,
        "tickets": sum(int(i["quantity"] or 0) for i in items),
        "email_opt_in": record.marketing_opt_ins.email,
        "sms_opt_in": record.marketing_opt_ins.sms,
        "customer": record.customer.as_json(),
        "placed_at": record.created_at or ctx.received_at,
        "record_hash": digest,
        "updated_at": now,
    }


def _insert_orders(
    session: Session, ctx: ApplyContext, params: list[dict[str, Any]], items: list[list[dict[str, Any]]]
) -> list[int]:
    """Insert new orders and their items; the new ids, in the order of `params`."""
    order_ids = insert_returning_ids(session, Order, params, key=("external_id",), scope=_scope(ctx))
    insert_rows(
        session,
        OrderItem,
        [
            {"order_id": order_id, **item}
            for order_id, order_items in zip(order_ids, items, strict=True)
            for item in order_items
        ],
    )
    return order_ids


def _replace_orders(session: Session, orders: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """Update changed orders in place; their items are the record's, so the stored ones are replaced whole."""
    update_by_id(session, Order, orders)
    session.execute(delete(OrderItem).where(values_in(OrderItem.order_id, [row["id"] for row in orders])))
    insert_rows(session, OrderItem, items)


def apply_contacts(session: Session, ctx: ApplyContext, records: Sequence[ContactRecord]) -> ApplyStats:
    stats = ApplyStats()
    audience = AudienceWriter(session, ctx.organization_id, ctx.source, ctx.batch_id)
    people = [
        Person(
            email=r.contact.email,
            phone=r.contact.phone,
            first_name=r.contact.first_name,
            last_name=r.contact.last_name,
            full_name=r.contact.full_name,
            address=r.contact.address,
            postal_code=r.contact.postal_code,
            birthday=r.contact.birthday,
        )
        for r in records
    ]
    contacts = audience.resolve(people)
    consent: list[tuple[Any, ConsentChange]] = []
    for record, contact in zip(records, contacts, strict=True):
        observed_at = record.observed_at or ctx.received_at
        for channel, wanted, via in (
            (EMAIL, record.opt_ins.email, record.via),
            (SMS, record.opt_ins.sms, record.sms_via or record.via),
        ):
            if wanted is None or not (contact.email if channel == EMAIL else contact.phone):
                continue
            raw = str(wanted).lower()
            change = ConsentChange(channel, wanted, via, ctx.source, observed_at, raw, record.actor)
            consent.append((contact, change))
    stats.consent_changes = audience.apply_consent(consent)
    stats.consent_counts = dict(audience.consent_counts)
    audience.flush()
    stats.contacts_created = audience.created
    stats.created = audience.created
    stats.updated = len(records) - audience.created
    tag_ids = tag_ids_by_name(session, ctx.organization_id, {t for r in records for t in r.contact.tags})
    tags: list[tuple[int, int]] = []
    lists: list[tuple[int, int]] = []
    genres: list[tuple[int, str]] = []
    interests: list[dict[str, Any]] = []
    for record, contact in zip(records, contacts, strict=True):
        assert contact.id is not None
        tags += [(contact.id, tag_ids[name]) for name in record.contact.tags if name in tag_ids]
        list_ids = list(record.list_ids) + ([record.contact.list_id] if record.contact.list_id else [])
        lists += [(contact.id, list_id) for list_id in list_ids]
        genres += [(contact.id, genre) for genre in record.contact.genres]
        if record.interested_in_event or record.ticket_url:
            interests.append(
                {
                    "contact_id": contact.id,
                    "event_external_id": record.interested_in_event.event_id if record.interested_in_event else None,
                    "ticketer": record.interested_in_event.ticketer if record.interested_in_event else None,
                    "ticket_url": record.ticket_url,
                }
            )
    audience.add_tags(tags)
    # A list deleted after the batch was accepted is skipped rather than failing the batch.
    live_lists = existing_list_ids(session, ctx.organization_id, {list_id for _, list_id in lists})
    audience.add_lists([pair for pair in lists if pair[1] in live_lists])
    audience.add_genres(genres)
    audience.add_interests(interests)
    audience.record_sources(list(zip(contacts, people, strict=True)))
    return stats


_APPLY: dict[str, Callable[[Session, ApplyContext, Sequence[Any]], ApplyStats]] = {
    "events": apply_events,
    "orders": apply_orders,
    "contacts": apply_contacts,
}
# Errors of the connection or the database itself: no record is to blame, so none is isolated;
# the whole transaction fails and the batch stays queued for the next attempt.
_NOT_A_RECORD = (OperationalError, InterfaceError)
_LOGGED_FAILURES = 5  # per batch, with traceback; a bug failing every record would flood the log


class UnreadablePayload(ValueError):
    """A stored payload that is not a batch of the kind at all (no list of records to isolate)."""


def apply_payload(session: Session, ctx: ApplyContext, kind: str, payload: str) -> ApplyStats:
    """Apply one stored batch payload (canonical JSON) of the given kind, keeping every record it can.

    A record that does not validate (a payload stored before a rule was added) or that the database
    refuses is left out and reported in `stats.rejected` by index and field; the rest are applied.
    """
    model = BATCH_MODELS.get(kind)
    if model is None:
        raise UnreadablePayload(f"unknown batch kind {kind!r}")
    context = {"phone_region": ctx.phone_region}
    try:
        records = list(enumerate(getattr(model.model_validate_json(payload, context=context), kind)))
        rejected: list[dict[str, Any]] = []
    except ValidationError:
        records, rejected = _validate_each(kind, payload, context)
    failures: list[int] = []
    stats = _apply_isolated(session, ctx, kind, records, failures)
    stats.rejected = sorted(rejected + stats.rejected, key=lambda error: error["index"])
    if failures:
        log.warning("batch %s: %d of %d records could not be stored", ctx.batch_id, len(failures), len(records))
    return stats


def _validate_each(
    kind: str, payload: str, context: dict[str, Any]
) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """The valid records of a payload that failed as a whole, with an error for each invalid one."""
    try:
        items = json.loads(payload)[kind]
    except (ValueError, TypeError, KeyError) as exc:
        raise UnreadablePayload(f"the stored payload is not a {kind} batch") from exc
    if not isinstance(items, list):
        raise UnreadablePayload(f"the stored payload is not a {kind} batch")
    valid: list[tuple[int, Any]] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, validate_record(RECORD_TYPES[kind], item, context)))
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                loc, message = locate(error)
                rejected.append({"index": index, "field": _path((kind, index, *loc)), "message": message})
    return valid, rejected


def _path(loc: tuple[Any, ...]) -> str:
    """("orders", 3, "customer", "last_name") -> "orders[3].customer.last_name" (pydantic's type tags dropped)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not ("[" in str(part) or "(" in str(part)):
            path += ("." if path else "") + str(part)
    return path


def _apply_isolated(
    session: Session, ctx: ApplyContext, kind: str, records: list[tuple[int, Any]], failures: list[int]
) -> ApplyStats:
    """Apply `records` in a savepoint; when the database refuses them, apply each half on its own,
    down to the single record to blame, which is left out. One attempt when nothing fails."""
    if not records:
        return ApplyStats()
    try:
        with session.begin_nested():
            return _APPLY[kind](session, ctx, [record for _, record in records])
    except _NOT_A_RECORD:
        raise
    except Exception:
        if len(records) > 1:
            middle = len(records) // 2
            first = _apply_isolated(session, ctx, kind, records[:middle], failures)
            return first.merge(_apply_isolated(session, ctx, kind, records[middle:], failures))
        index = records[0][0]
        failures.append(index)
        if len(failures) <= _LOGGED_FAILURES:
            log.exception("batch %s: %s[%d] could not be stored", ctx.batch_id, kind, index)
        stats = ApplyStats()
        message = f"could not be stored; the reason is in the server log (batch {ctx.batch_id}, {kind}[{index}])"
        stats.rejected.append({"index": index, "field": f"{kind}[{index}]", "message": message})
        return stats
