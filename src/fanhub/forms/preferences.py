"""The preference center (`/p/<token>`, issue 21): what a person sees about themselves and what a
save changes.

Owns the rules of the page; `preference_endpoints` only parses the form and renders.
- The page names one contact of one organization (`campaigns.tokens.preference_token`, in every
  email's footer); it shows their channels (email, SMS, with their state), the organization's
  public lists plus the lists they are on, and the genres of the audience vocabulary.
- A save changes only what the page showed and the person changed: a list or genre missing from
  the posted "shown" set is never touched (Mautic switched hidden categories off on save), and a
  channel changes only when its box differs from the state the page showed.
- Every consent change goes through `audience.service.change_consent` (the rules of
  `audience.consent`, the ledger) with `via: preference_center`, an explicit choice of the person:
  it may lift their own earlier opt-out. Subscribing to SMS needs the consent box, whose exact
  wording (`sms_consent_text`) is kept with the ledger entry as proof of consent (with the IP
  address and user agent of the request, as for a signup form).
- Joining a list is possible only for a public list; leaving one only for a list the person is on.
  Leaving records a list opt-out, joining again lifts it (`audience/list_optouts.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from fanhub.audience import list_optouts
from fanhub.audience.consent import EMAIL, SMS, ConsentChange, ConsentProof
from fanhub.audience.models import SUBSCRIBED, AudienceList, Contact, ContactGenre, ContactList
from fanhub.audience.repository import ContactRepository
from fanhub.audience.service import AudienceWriter, change_consent
from fanhub.audience.vocabulary import genres
from fanhub.errors import NotFound
from fanhub.organizations.models import Organization

VIA = "preference_center"
SOURCE = "preference_center"


@dataclass(frozen=True)
class ChannelView:
    channel: str  # EMAIL | SMS
    address: str | None  # masked; None when the contact has no address on this channel
    status: str  # subscribed | unsubscribed | pending | unknown


@dataclass(frozen=True)
class ListView:
    id: int
    name: str
    member: bool
    public: bool


@dataclass(frozen=True)
class GenreView:
    name: str
    chosen: bool


@dataclass(frozen=True)
class Preferences:
    organization: str
    contact_id: int
    channels: list[ChannelView]
    lists: list[ListView]
    genres: list[GenreView]
    sms_consent_text: str


@dataclass(frozen=True)
class PreferenceForm:
    """A parsed save. `email`/`sms`: the new state the person chose, None to leave the channel as it
    is. `lists`/`genres`: the boxes ticked among `shown_lists`/`shown_genres` (what the page showed)."""

    email: bool | None = None
    sms: bool | None = None
    shown_lists: frozenset[int] = frozenset()
    lists: frozenset[int] = frozenset()
    shown_genres: frozenset[str] = frozenset()
    genres: frozenset[str] = frozenset()
    unsubscribe_all: bool = False


@dataclass(frozen=True)
class Requester:
    """Where a save came from, kept as proof with an SMS subscription."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass
class Applied:
    """What a save changed, for the confirmation notice."""

    channels: dict[str, str] = field(default_factory=dict)  # channel -> new state
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    genres_added: list[str] = field(default_factory=list)
    genres_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.channels or self.joined or self.left or self.genres_added or self.genres_removed)


def sms_consent_text(organization: str) -> str:
    """The wording beside the SMS box; the ledger keeps exactly this text with the subscription."""
    name = " ".join(organization.split())[:60]
    return (
        f"Yes, send me text messages from {name} about events and offers. "
        "Message and data rates may apply. Reply STOP to opt out."
    )


def mask(address: str | None) -> str | None:
    """Enough of an address to recognise it, not enough to learn it from a forwarded email."""
    if not address:
        return None
    if "@" in address:
        local, _, domain = address.partition("@")
        return (local[:2] + "…" if len(local) > 2 else local) + "@" + domain
    return "…" + address[-4:]


def _contact(session: Session, organization_id: int, contact_id: int) -> Contact:
    contact: Contact = ContactRepository(session).get(organization_id, contact_id)  # NotFound otherwise
    if contact.erased_at is not None:
        # An erased person (privacy/erase.py) has no page: an old email's link must not show or
        # change anything about the anonymous row that stays behind.
        raise NotFound(f"contact {contact_id} not found")
    return contact


def _shown_lists(session: Session, organization_id: int, contact_id: int) -> list[ListView]:
    memberships = select(ContactList.list_id).where(ContactList.contact_id == contact_id)
    member_ids = set(session.scalars(memberships))
    rows = session.scalars(
        select(AudienceList)
        .where(
            AudienceList.organization_id == organization_id,
            or_(AudienceList.public.is_(True), AudienceList.id.in_(memberships)),
        )
        .order_by(AudienceList.name, AudienceList.id)
    )
    return [ListView(item.id, item.name, item.id in member_ids, item.public) for item in rows]


def _contact_genres(session: Session, contact_id: int) -> set[str]:
    return set(session.scalars(select(ContactGenre.genre).where(ContactGenre.contact_id == contact_id)))


def read_preferences(session: Session, organization_id: int, contact_id: int) -> Preferences:
    """What the page shows; reads only."""
    contact = _contact(session, organization_id, contact_id)
    organization = session.get(Organization, organization_id)
    name = organization.name if organization is not None else ""
    chosen = _contact_genres(session, contact_id)
    vocabulary = list(genres())
    # A genre the contact has that the deployment's list no longer carries is still theirs to drop.
    extra = sorted(chosen - set(vocabulary))
    return Preferences(
        organization=name,
        contact_id=contact.id,
        channels=[
            ChannelView(EMAIL, mask(contact.email), contact.email_status),
            ChannelView(SMS, mask(contact.phone), contact.sms_status),
        ],
        lists=_shown_lists(session, organization_id, contact_id),
        genres=[GenreView(genre, genre in chosen) for genre in vocabulary + extra],
        sms_consent_text=sms_consent_text(name),
    )


def apply_preferences(
    session: Session,
    organization_id: int,
    contact_id: int,
    form: PreferenceForm,
    now: datetime,
    requester: Requester | None = None,
) -> Applied:
    """Apply a save inside the caller's write transaction; returns what changed."""
    contact = _contact(session, organization_id, contact_id)
    organization = session.get(Organization, organization_id)
    requester = requester or Requester()
    applied = Applied()
    wanted = {EMAIL: form.email, SMS: form.sms}
    if form.unsubscribe_all:
        wanted = {EMAIL: False, SMS: False}
    addresses = {EMAIL: contact.email, SMS: contact.phone}
    for channel, subscribe in wanted.items():
        if subscribe is None or not addresses[channel]:
            continue
        raw = "unsubscribe_all" if form.unsubscribe_all else ("checked" if subscribe else "unchecked")
        proof = None
        if channel == SMS and subscribe:
            text = sms_consent_text(organization.name if organization is not None else "")
            proof = ConsentProof(None, text, None, requester.ip, (requester.user_agent or "")[:400] or None)
        change = ConsentChange(channel, subscribe, VIA, SOURCE, now, raw, proof=proof)
        if change_consent(session, organization_id, contact_id, change):
            applied.channels[channel] = SUBSCRIBED if subscribe else "unsubscribed"
    if not form.unsubscribe_all:
        _apply_lists(session, organization_id, contact_id, form, applied, now)
        _apply_genres(session, organization_id, contact_id, form, applied)
    return applied


def _apply_lists(
    session: Session, organization_id: int, contact_id: int, form: PreferenceForm, applied: Applied, now: datetime
) -> None:
    # Re-read what the page may show now: a list made private since the page was rendered can no
    # longer be joined, and ids that were never shown (or belong to another organization) are ignored.
    showable = {item.id: item for item in _shown_lists(session, organization_id, contact_id)}
    joined: list[tuple[int, int]] = []
    left: list[int] = []
    for list_id in sorted(form.shown_lists & showable.keys()):
        item = showable[list_id]
        ticked = list_id in form.lists
        if ticked and not item.member and item.public:
            joined.append((contact_id, list_id))
            applied.joined.append(item.name)
        elif not ticked and item.member:
            session.execute(
                delete(ContactList).where(ContactList.contact_id == contact_id, ContactList.list_id == list_id)
            )
            applied.left.append(item.name)
            left.append(list_id)
    # Leaving is the person's choice: old records naming the list must not put them back.
    list_optouts.record(session, organization_id, contact_id, left, VIA, now)
    # Through the audience writer, so a join fires the same reactions as any other (a flow's
    # `list_joined` trigger); joining again themselves lifts their opt-out.
    AudienceWriter(session, organization_id, SOURCE).add_lists(joined, by_person=True)
    session.flush()


def _apply_genres(
    session: Session, organization_id: int, contact_id: int, form: PreferenceForm, applied: Applied
) -> None:
    current = _contact_genres(session, contact_id)
    offered = set(genres()) | current
    added: list[tuple[int, str]] = []
    for genre in sorted(form.shown_genres & offered):
        ticked = genre in form.genres
        if ticked and genre not in current and genre in genres():
            added.append((contact_id, genre))
            applied.genres_added.append(genre)
        elif not ticked and genre in current:
            session.execute(
                delete(ContactGenre).where(ContactGenre.contact_id == contact_id, ContactGenre.genre == genre)
            )
            applied.genres_removed.append(genre)
    AudienceWriter(session, organization_id, SOURCE).add_genres(added)
    session.flush()


def int_set(values: Iterable[str]) -> frozenset[int]:
    """Ids posted as strings; anything not a small positive integer is dropped."""
    return frozenset(int(v) for v in values if v.isdigit() and len(v) < 19)
