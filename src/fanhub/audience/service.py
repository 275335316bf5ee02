"""Audience rules: resolving people to contacts, applying consent, tags, lists, genres and interests.

Everything here works a batch at a time (one query per kind of lookup, not per record), because
the same code applies a 500-order partner batch and a 100,000-row CSV import.

When an email and a phone point at two different existing contacts, the email wins: the record
joins the email's contact, and the phone stays with the contact that already holds it (a shared
family or box-office phone must not merge two people). The source record keeps the phone as the
source gave it, so nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fanhub.audience import list_optouts, suppression
from fanhub.audience.consent import EMAIL, ConsentChange, may_subscribe_after_erasure, should_apply
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
from fanhub.audience.repository import ContactRepository, TagRepository
from fanhub.db.base import utcnow
from fanhub.db.bulk import insert_returning_ids, insert_rows, update_by_id, upsert_rows, values_in
from fanhub.errors import InvalidInput

_CHUNK = 500

# Reactions of the features above core to tags and lists the writer adds (connected in
# fanhub/wiring.py: automations enroll on them): (session, organization id, "tag" | "list",
# [(contact id, tag or list id)] just linked), inside the writer's transaction.
LabelListener = Callable[[Session, int, str, Sequence[tuple[int, int]]], None]
_label_listeners: list[LabelListener] = []


def on_labels_added(listener: LabelListener) -> LabelListener:
    """Add a reaction to new tag and list links (idempotent)."""
    if listener not in _label_listeners:
        _label_listeners.append(listener)
    return listener


def labels_added(session: Session, organization_id: int, kind: str, pairs: Sequence[tuple[int, int]]) -> None:
    """Announce (contact, tag or list) links just made, by any writer: this writer, staff and
    assistants (`labels.change_labels`, `bulk_labels.change_labels_matching`, one call per batch).
    `pairs` must be exactly the links that did not exist before, so nobody enters a flow for a tag
    they already had."""
    if not pairs:
        return
    for listener in _label_listeners:
        listener(session, organization_id, kind, pairs)


_FILLABLE = ("first_name", "last_name", "full_name", "address", "postal_code", "ip_address", "birthday")


@dataclass
class Person:
    """What one source record says about a person (already normalised)."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    address: str | None = None
    postal_code: str | None = None
    ip_address: str | None = None
    birthday: str | None = None
    raw_phone: str | None = None


@dataclass(slots=True)
class _ContactRow:
    id: int | None
    email: str | None
    phone: str | None
    fields: dict[str, Any]
    email_status: str = "unknown"
    email_status_at: datetime | None = None
    sms_status: str = "unknown"
    sms_status_at: datetime | None = None
    dirty: set[str] = field(default_factory=set)


def _proof_columns(change: ConsentChange) -> dict[str, Any]:
    """The ledger's proof-of-consent columns (None unless a signup form made the change)."""
    proof = change.proof
    return {
        "form_id": proof.form_id if proof else None,
        "consent_text": proof.consent_text if proof else None,
        "page_url": proof.page_url if proof else None,
        "ip": proof.ip if proof else None,
        "user_agent": proof.user_agent if proof else None,
    }


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class AudienceWriter:
    """Resolves a batch of people to contacts and applies consent changes, inside one transaction.

    Nothing is written until `flush()`: a contact created by this batch is inserted once, already
    holding its filled fields and its consent state, and an existing one gets one UPDATE for
    everything the batch changed (insert-then-update cost a second write of every new contact and
    its status index entries). Contact ids are known after `flush()`.
    """

    def __init__(self, session: Session, organization_id: int, source: str, batch_id: str | None = None) -> None:
        self.session = session
        self.organization_id = organization_id
        self.source = source
        self.batch_id = batch_id
        self._by_email: dict[str, _ContactRow] = {}
        self._by_phone: dict[str, _ContactRow] = {}
        self._rows: dict[int, _ContactRow] = {}
        self._pending: list[_ContactRow] = []
        self._ledger: list[tuple[_ContactRow, dict[str, Any]]] = []
        self.created = 0
        # Changes taken, by "<channel>.<new state>" (an import's result page shows them per channel).
        self.consent_counts: Counter[str] = Counter()

    def _load(self, people: Sequence[Person]) -> None:
        emails = sorted({p.email for p in people if p.email and p.email not in self._by_email})
        phones = sorted({p.phone for p in people if p.phone and p.phone not in self._by_phone})
        columns = (
            Contact.id,
            Contact.email,
            Contact.phone,
            Contact.email_status,
            Contact.email_status_at,
            Contact.sms_status,
            Contact.sms_status_at,
            *(getattr(Contact, name) for name in _FILLABLE),
        )
        # One query per column: an OR across email and phone made SQLite scan the organization's
        # contacts instead of probing the two unique indexes.
        conditions = [values_in(Contact.email, emails)] if emails else []
        conditions += [values_in(Contact.phone, phones)] if phones else []
        for condition in conditions:
            query = select(*columns).where(Contact.organization_id == self.organization_id, condition)
            rows = self.session.execute(query)
            for contact_id, email, phone, email_status, email_at, sms_status, sms_at, *fillable in rows:
                if contact_id in self._rows:
                    continue
                contact = _ContactRow(
                    contact_id,
                    email,
                    phone,
                    dict(zip(_FILLABLE, fillable, strict=True)),
                    email_status,
                    email_at,
                    sms_status,
                    sms_at,
                )
                self._rows[contact_id] = contact
                if email:
                    self._by_email[email] = contact
                if phone:
                    self._by_phone[phone] = contact

    def resolve(self, people: Sequence[Person]) -> list[_ContactRow]:
        """One contact row per person, new or existing, with missing fields filled; never blanks a field.

        New rows have no id until `flush()`.
        """
        self._load(people)
        resolved: list[_ContactRow] = []
        for person in people:
            by_email = self._by_email.get(person.email) if person.email else None
            by_phone = self._by_phone.get(person.phone) if person.phone else None
            contact = by_email or by_phone
            if contact is None:
                contact = _ContactRow(id=None, email=person.email, phone=person.phone, fields={})
                self._pending.append(contact)
            else:
                if person.email and contact.email is None:
                    contact.email = person.email
                    contact.dirty.add("email")
                if person.phone and contact.phone is None and by_phone is None:
                    contact.phone = person.phone
                    contact.dirty.add("phone")
            if contact.email:
                self._by_email[contact.email] = contact
            if contact.phone:
                self._by_phone.setdefault(contact.phone, contact)
            for name in _FILLABLE:
                value = getattr(person, name)
                if value and not contact.fields.get(name):
                    contact.fields[name] = value
                    contact.dirty.add(name)
            resolved.append(contact)
        return resolved

    def apply_consent(self, changes: Sequence[tuple[_ContactRow, ConsentChange]]) -> int:
        """Apply the changes that the consent rules allow to the rows; the ledger is written by `flush()`."""
        now = utcnow()
        taken = 0
        erased = self._erased_addresses(changes)
        lifted: dict[str, ConsentChange] = {}
        for contact, change in changes:
            status_attr = f"{change.channel}_status"
            if not should_apply(getattr(contact, status_attr), getattr(contact, status_attr + "_at"), change):
                continue
            address = contact.email if change.channel == EMAIL else contact.phone
            if change.subscribed and address in erased:
                # The after-erasure rule (audience/consent.py): only a new explicit opt-in subscribes.
                if not may_subscribe_after_erasure(change, erased[address]):
                    continue
                lifted.setdefault(address, change)
            setattr(contact, status_attr, change.status)
            setattr(contact, status_attr + "_at", change.observed_at)
            contact.dirty.update((status_attr, status_attr + "_at"))
            if contact.id is not None:
                self._rows.setdefault(contact.id, contact)
            taken += 1
            self.consent_counts[f"{change.channel}.{change.status}"] += 1
            self._ledger.append(
                (
                    contact,
                    {
                        "organization_id": self.organization_id,
                        "channel": change.channel,
                        "status": change.status,
                        "subscribed": change.subscribed is True,
                        "source": change.source,
                        "via": change.via,
                        "raw_value": change.raw_value,
                        "actor": change.actor,
                        "batch_id": self.batch_id,
                        "occurred_at": change.observed_at,
                        "recorded_at": now,
                        **_proof_columns(change),
                    },
                )
            )
        for address, change in lifted.items():
            suppression.lift_erased(self.session, self.organization_id, address, change.source, change.via)
        return taken

    def _erased_addresses(self, changes: Sequence[tuple[_ContactRow, ConsentChange]]) -> dict[str, datetime]:
        """{address: erased at} for the addresses these changes would subscribe that were erased."""
        addresses = {
            contact.email if change.channel == EMAIL else contact.phone
            for contact, change in changes
            if change.subscribed
        }
        return suppression.erased_since(self.session, self.organization_id, (a for a in addresses if a))

    def flush(self) -> None:
        """Write new contacts, changed contacts and the consent ledger; afterwards every row has its id."""
        self._insert(self._pending)
        self._pending = []
        self._update_dirty()
        if self._ledger:
            ledger = [{"contact_id": contact.id, **entry} for contact, entry in self._ledger]
            self._ledger = []
            insert_rows(self.session, ConsentEvent, ledger)

    def _insert(self, rows: list[_ContactRow]) -> None:
        if not rows:
            return
        now = utcnow()
        params = [
            {
                "organization_id": self.organization_id,
                "email": r.email,
                "phone": r.phone,
                "email_status": r.email_status,
                "email_status_at": r.email_status_at,
                "sms_status": r.sms_status,
                "sms_status_at": r.sms_status_at,
                "created_at": now,
                "updated_at": now,
                **{n: r.fields.get(n) for n in _FILLABLE},
            }
            for r in rows
        ]
        for row, contact_id in zip(
            rows,
            insert_returning_ids(
                self.session, Contact, params, key=("email", "phone"), scope={"organization_id": self.organization_id}
            ),
            strict=True,
        ):
            row.id = contact_id
            row.dirty.clear()
            self._rows[contact_id] = row
        self.created += len(rows)

    def _update_dirty(self) -> None:
        dirty = [r for r in self._rows.values() if r.dirty]
        if not dirty:
            return
        now = utcnow()
        updates = []
        for row in dirty:
            values = {name: (row.fields.get(name) if name in _FILLABLE else getattr(row, name)) for name in row.dirty}
            updates.append({"id": row.id, **values, "updated_at": now})
            row.dirty.clear()
        update_by_id(self.session, Contact, updates)

    def record_sources(self, seen: Sequence[tuple[_ContactRow, Person]]) -> None:
        """Link each contact to this source's view of the person (the source records it was merged from)."""
        latest: dict[int, Person] = {}
        counts: dict[int, int] = {}
        for contact, person in seen:
            assert contact.id is not None
            latest[contact.id] = person
            counts[contact.id] = counts.get(contact.id, 0) + 1
        now = utcnow()
        rows = []
        for contact_id in sorted(latest):
            person = latest[contact_id]
            name = person.full_name or " ".join(p for p in (person.first_name, person.last_name) if p) or None
            rows.append(
                {
                    "organization_id": self.organization_id,
                    "contact_id": contact_id,
                    "source": self.source,
                    "email": person.email,
                    "phone": person.raw_phone or person.phone,
                    "name": name,
                    "records": counts[contact_id],
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
            )
        # One statement, no read-modify-write: a link seen before keeps its first_seen_at and adds the count.
        upsert_rows(
            self.session,
            ContactSource,
            rows,
            conflict=("contact_id", "source"),
            assignments=(
                "records = contact_sources.records + excluded.records",
                "last_seen_at = excluded.last_seen_at",
                "email = excluded.email",
                "phone = excluded.phone",
                "name = excluded.name",
            ),
        )

    def add_tags(self, pairs: Sequence[tuple[int, int]]) -> None:
        labels_added(self.session, self.organization_id, "tag", self._add_links(ContactTag, "tag_id", pairs))

    def add_lists(self, pairs: Sequence[tuple[int, int]], by_person: bool = False) -> None:
        """Join lists. Old records (Partners API, connectors, imports) never re-add a person to a
        list they left themselves; `by_person`: the person (or staff, explicitly) joins again,
        which clears that opt-out (the rule: `audience/list_optouts.py`)."""
        if by_person:
            list_optouts.clear(self.session, self.organization_id, pairs)
        else:
            pairs = list_optouts.without_optouts(self.session, self.organization_id, pairs)
        labels_added(self.session, self.organization_id, "list", self._add_links(ContactList, "list_id", pairs))

    def add_genres(self, pairs: Sequence[tuple[int, str]]) -> None:
        self._add_links(ContactGenre, "genre", pairs)

    def _add_links(self, model: Any, column: str, pairs: Sequence[tuple[int, Any]]) -> list[tuple[int, Any]]:
        """Link the pairs not linked yet; returns those."""
        wanted = set(pairs)
        if not wanted:
            return []
        contact_ids = sorted({c for c, _ in wanted})
        query = select(model.contact_id, getattr(model, column)).where(values_in(model.contact_id, contact_ids))
        existing: set[tuple[int, Any]] = {(row[0], row[1]) for row in self.session.execute(query)}
        added = sorted(wanted - existing, key=lambda p: (p[0], str(p[1])))
        if added:
            insert_rows(self.session, model, [{"contact_id": c, column: v} for c, v in added])
        return added

    def add_interests(self, interests: Sequence[dict[str, Any]]) -> None:
        if not interests:
            return
        contact_ids = sorted({i["contact_id"] for i in interests})
        existing: set[tuple[Any, ...]] = set()
        for chunk in _chunks(contact_ids):
            query = select(
                ContactInterest.contact_id,
                ContactInterest.event_external_id,
                ContactInterest.ticketer,
                ContactInterest.ticket_url,
            ).where(ContactInterest.contact_id.in_(chunk))
            existing.update(tuple(row) for row in self.session.execute(query))
        new = []
        for interest in interests:
            key = (
                interest["contact_id"],
                interest.get("event_external_id"),
                interest.get("ticketer"),
                interest.get("ticket_url"),
            )
            if key not in existing:
                existing.add(key)
                new.append({"organization_id": self.organization_id, "source": self.source, **interest})
        if new:
            insert_rows(self.session, ContactInterest, new)


def change_consent(
    session: Session, organization_id: int, contact_id: int, change: ConsentChange, batch_id: str | None = None
) -> bool:
    """Apply one consent change to one contact (unsubscribe links, STOP replies, staff); True if it took."""
    contact = ContactRepository(session).get(organization_id, contact_id)
    writer = AudienceWriter(session, organization_id, change.source, batch_id)
    row = _ContactRow(
        id=contact.id,
        email=contact.email,
        phone=contact.phone,
        fields={},
        email_status=contact.email_status,
        email_status_at=contact.email_status_at,
        sms_status=contact.sms_status,
        sms_status_at=contact.sms_status_at,
    )
    changed = writer.apply_consent([(row, change)]) > 0
    writer.flush()
    if changed:
        session.expire(contact)
    return changed


# --- tags and lists (staff-managed vocabulary) -------------------------------------------------


def create_tag(session: Session, organization_id: int, name: str) -> Tag:
    return _create_named(session, Tag, organization_id, name, "tag")


def create_list(session: Session, organization_id: int, name: str, public: bool = False) -> AudienceList:
    """A new list; a `public` one is offered on every recipient's preference center."""
    item: AudienceList = _create_named(session, AudienceList, organization_id, name, "list")
    item.public = public
    return item


def _create_named(session: Session, model: Any, organization_id: int, name: str, what: str) -> Any:
    from fanhub.organizations.service import get_organization

    get_organization(session, organization_id)
    name = name.strip()
    if not name:
        raise InvalidInput(f"{what} name must not be empty")
    existing = session.scalars(
        select(model).where(model.organization_id == organization_id, model.name == name)
    ).first()
    if existing is not None:
        raise InvalidInput(f"{what} {name!r} already exists (id {existing.id})")
    item = model(organization_id=organization_id, name=name)
    session.add(item)
    session.flush()
    return item


def tag_ids_by_name(session: Session, organization_id: int, names: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        query = select(Tag.name, Tag.id).where(Tag.organization_id == organization_id, Tag.name.in_(chunk))
        found.update({name: tag_id for name, tag_id in session.execute(query)})
    return found


def existing_list_ids(session: Session, organization_id: int, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    found: set[int] = set()
    for chunk in _chunks(wanted):
        found.update(
            session.scalars(
                select(AudienceList.id).where(
                    AudienceList.organization_id == organization_id, AudienceList.id.in_(chunk)
                )
            )
        )
    return found


def list_tags(session: Session, organization_id: int) -> list[Tag]:
    return list(session.scalars(select(Tag).where(Tag.organization_id == organization_id).order_by(Tag.name)))


def list_lists(session: Session, organization_id: int) -> list[AudienceList]:
    return list(
        session.scalars(
            select(AudienceList).where(AudienceList.organization_id == organization_id).order_by(AudienceList.id)
        )
    )


def untag(session: Session, organization_id: int, contact_ids: Sequence[int], tag_id: int) -> int:
    TagRepository(session).get(organization_id, tag_id)
    result = session.execute(
        delete(ContactTag).where(ContactTag.tag_id == tag_id, ContactTag.contact_id.in_(list(contact_ids)))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def count_contacts(session: Session, organization_id: int) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Contact).where(Contact.organization_id == organization_id)) or 0
    )
