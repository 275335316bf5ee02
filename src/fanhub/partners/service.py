"""Partners API rules: turning validated requests into durable ingest batches.

Pydantic has already checked shapes and types; here the organization's vocabulary (tags, lists,
genres, ticketers) and the batch-size limit are checked, and the batch is committed before the
caller hears 201. A batch with any invalid item is rejected whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from fanhub.audience.vocabulary import VocabularyCheck
from fanhub.auth.actor import Actor
from fanhub.config import get_settings
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput
from fanhub.ingest.records import (
    ContactBatch,
    ContactRecord,
    OptIns,
)
from fanhub.ingest.service import accept_batch, enqueue_batch
from fanhub.partners.schemas import CreateContactRequest, SubscribeRequest


def _check_size(kind: str, count: int) -> None:
    limit = get_settings().max_items_per_batch
    if count > limit:
        raise InvalidInput(
            f"too many {kind}: {count} in one request, the limit is {limit}",
            [{"index": None, "field": kind, "message": f"at most {limit} items per request"}],
        )


def _store(
    database: Database,
    actor: Actor,
    kind: str,
    payload: str,
    count: int,
    vocabulary: Sequence[tuple[int | None, str, list[str], int | None, list[str], str | None]] = (),
) -> str:
    if not vocabulary:
        return accept_batch(database, actor.organization_id, actor.source, kind, payload, count)
    # The vocabulary is checked in the transaction that stores the batch, so a tag deleted meanwhile
    # cannot slip through.
    with database.write() as session:
        check = VocabularyCheck(session, actor.organization_id)
        check.check(vocabulary)
        if check.errors:
            raise InvalidInput(f"{len(check.errors)} invalid value(s); nothing was queued", check.errors)
        stored = enqueue_batch(session, actor.organization_id, actor.source, kind, payload, count)
        return stored.public_id


def accept_events(database: Database, actor: Actor, count: int, raw_body: bytes) -> str:
    """A validated body of `count` events is itself a canonical event batch, so it is stored as received."""
    _check_size("events", count)
    return _store(database, actor, "events", raw_body.decode(), count)


def accept_orders(database: Database, actor: Actor, count: int, raw_body: bytes) -> str:
    """A validated body of `count` orders is itself a canonical order batch, so it is stored as received."""
    _check_size("orders", count)
    return _store(database, actor, "orders", raw_body.decode(), count)


def accept_contact(database: Database, actor: Actor, request: CreateContactRequest) -> str:
    record = ContactRecord(
        contact=request.contact,
        opt_ins=request.opt_ins or OptIns(),
        interested_in_event=request.interested_in_event,
        via="contact.opt_ins",
    )
    ticketer = request.interested_in_event.ticketer if request.interested_in_event else None
    vocabulary = [(None, "contact", request.contact.tags, request.contact.list_id, request.contact.genres, ticketer)]
    payload = ContactBatch(contacts=[record]).model_dump_json()
    return _store(database, actor, "contacts", payload, 1, vocabulary)


def accept_subscribe(database: Database, actor: Actor, request: SubscribeRequest) -> str:
    """`/subscribe` subscribes every channel the contact was given with (email, phone or both)."""
    opt_ins = OptIns(email=True if request.contact.email else None, sms=True if request.contact.phone else None)
    record = ContactRecord(contact=request.contact, opt_ins=opt_ins, ticket_url=request.ticket_url, via="subscribe")
    vocabulary = [(None, "contact", request.contact.tags, request.contact.list_id, request.contact.genres, None)]
    payload = ContactBatch(contacts=[record]).model_dump_json()
    return _store(database, actor, "contacts", payload, 1, vocabulary)
