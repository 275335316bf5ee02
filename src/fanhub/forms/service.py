"""Signup form rules: creating forms, accepting submissions, confirming and expiring double opt-in.

A submission is stored (`FormSubmission`) in the same transaction that creates or joins the contact
and applies its consent through `audience.consent` (via `AudienceWriter`), with the proof of
consent on every ledger entry. Without double opt-in the form subscribes at once (`FORM`, an
explicit opt-in) and adds the form's lists, tags, genres and event interest. With it, the email
(and, when the SMS box was ticked, the SMS) consent becomes "pending" and the confirmation
messages are queued on the submission row for the worker (`forms.confirmations`); the lists and the
rest are added when the person confirms. The email confirmation never confirms SMS: that is the
`YES` reply (`campaigns.tracking.inbound_sms`, rule `consent.SMS_CONFIRM`).

The bot checks (`forms.abuse`) run before anything is written: a dropped submission is answered
like an accepted one and leaves no trace, so it never sends a confirmation.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fanhub.addresses import try_normalize_phone
from fanhub.audience.consent import (
    EMAIL,
    FORM,
    FORM_CONFIRM,
    FORM_PENDING,
    PENDING_DAYS,
    SMS,
    ConsentChange,
    ConsentProof,
    LedgerEntry,
    pending_expiry_change,
)
from fanhub.audience.models import PENDING as PENDING_STATE
from fanhub.audience.models import ConsentEvent, Contact
from fanhub.audience.service import AudienceWriter, Person, change_consent, create_tag, existing_list_ids
from fanhub.audience.vocabulary import canonical_genre, genres
from fanhub.campaigns import tokens
from fanhub.catalog.models import Event
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.bulk import insert_rows
from fanhub.db.engine import Database
from fanhub.errors import FanhubError, InvalidInput, NotFound
from fanhub.forms import abuse
from fanhub.forms.models import CONFIRMED, EXPIRED, PENDING, QUEUED, SUBSCRIBED, Form, FormSubmission
from fanhub.organizations.service import get_organization

FIELDS = ("email", "phone", "first_name", "last_name", "birthday")
CONFIRM = "fc"  # token purpose of the confirmation link
SOURCE_PREFIX = "form:"


class RateLimited(FanhubError):
    """Too many submissions from one IP or to one form in the last minute (HTTP 429)."""

    def __init__(self, limited: abuse.Limited) -> None:
        super().__init__(f"too many submissions from this {limited.scope}; retry in {limited.retry_after} s")
        self.retry_after = limited.retry_after


def rowcount(result: object) -> int:
    """Rows an UPDATE changed (the claim of a conditional UPDATE)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _invalid(field_name: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field_name}: {message}", [{"index": None, "field": field_name, "message": message}])


# --- creating forms -----------------------------------------------------------------------------


@dataclass
class FormSpec:
    name: str
    fields: list[str] = field(default_factory=lambda: ["email"])
    list_ids: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    event_id: int | None = None
    double_opt_in: bool = False
    consent_text: str | None = None
    sms_consent_text: str | None = None


def default_consent_text(organization_name: str) -> str:
    return f"Yes, email me news and offers from {organization_name}. I can unsubscribe at any time."


def default_sms_consent_text(organization_name: str) -> str:
    return (
        f"Yes, text me news and offers from {organization_name} at the number above. "
        "Message and data rates may apply. Reply STOP to stop. Not a condition of purchase."
    )


def _fields(raw: list[str]) -> list[str]:
    wanted = [f.strip().lower() for f in raw if f.strip()]
    unknown = [f for f in wanted if f not in FIELDS]
    if unknown:
        raise _invalid("fields", f"unknown field {unknown[0]!r}; choose from {', '.join(FIELDS)}")
    # "email" always first: a form subscribes an email address (its SMS box is an extra).
    return ["email", *dict.fromkeys(f for f in wanted if f != "email")]


def create_form(session: Session, organization_id: int, spec: FormSpec, created_by: str | None = None) -> Form:
    """A new form; lists, the event and genres must exist, missing tags are created."""
    organization = get_organization(session, organization_id)
    name = spec.name.strip()
    if not name or len(name) > 200:
        raise _invalid("name", "give a name of 1 to 200 characters")
    fields = _fields(spec.fields)
    missing = sorted(set(spec.list_ids) - existing_list_ids(session, organization_id, spec.list_ids))
    if missing:
        raise _invalid("lists", f"list {missing[0]} not found in this organization")
    known = {g.lower() for g in genres()}
    bad = [g for g in spec.genres if g.strip().lower() not in known]
    if bad:
        raise _invalid("genres", f"unknown genre {bad[0]!r}")
    if spec.event_id is not None:
        found = session.scalar(
            select(Event.id).where(Event.organization_id == organization_id, Event.id == spec.event_id)
        )
        if found is None:
            raise _invalid("event", f"event {spec.event_id} not found in this organization")
    tags = list(dict.fromkeys(t.strip() for t in spec.tags if t.strip()))
    _ensure_tags(session, organization_id, tags)
    consent_text = (spec.consent_text or "").strip() or default_consent_text(organization.name)
    sms_text = (spec.sms_consent_text or "").strip() or default_sms_consent_text(organization.name)
    form = Form(
        organization_id=organization_id,
        key=secrets.token_urlsafe(12),
        name=name,
        fields=fields,
        list_ids=sorted(set(spec.list_ids)),
        tags=tags,
        genres=[canonical_genre(g) for g in dict.fromkeys(spec.genres)],
        event_id=spec.event_id,
        double_opt_in=spec.double_opt_in,
        consent_text=consent_text,
        sms_consent_text=sms_text if "phone" in fields else None,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(form)
    session.flush()
    return form


def _ensure_tags(session: Session, organization_id: int, names: list[str]) -> dict[str, int]:
    from fanhub.audience.service import tag_ids_by_name

    ids = tag_ids_by_name(session, organization_id, names)
    for name in names:
        if name not in ids:
            ids[name] = create_tag(session, organization_id, name).id
    return ids


def list_forms(session: Session, organization_id: int) -> list[tuple[Form, dict[str, int]]]:
    """The organization's forms, newest first, each with its submissions counted by state."""
    from sqlalchemy import func

    get_organization(session, organization_id)
    forms = list(session.scalars(select(Form).where(Form.organization_id == organization_id).order_by(Form.id.desc())))
    counts: dict[int, dict[str, int]] = {f.id: {} for f in forms}
    if forms:
        rows = session.execute(
            select(FormSubmission.form_id, FormSubmission.status, func.count())
            .where(FormSubmission.form_id.in_(counts))
            .group_by(FormSubmission.form_id, FormSubmission.status)
        )
        for form_id, status, count in rows:
            counts[form_id][status] = int(count)
    return [(f, counts[f.id]) for f in forms]


def get_form(session: Session, organization_id: int, form_id: int) -> Form:
    form = session.get(Form, form_id)
    if form is None or form.organization_id != organization_id:
        raise NotFound(f"form {form_id} not found")
    return form


def public_form(session: Session, key: str) -> Form:
    form = session.scalars(select(Form).where(Form.key == key)).first() if len(key) <= 32 else None
    if form is None:
        raise NotFound("form not found")
    return form


def form_url(settings: Settings, form: Form) -> str:
    return f"{settings.public_url.rstrip('/')}/f/{form.key}"


def confirm_url(settings: Settings, submission_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/f/c/{tokens.make_token(CONFIRM, submission_id)}"


# --- submissions --------------------------------------------------------------------------------


@dataclass
class Submission:
    """What the page posted (raw, as typed)."""

    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    birthday: str = ""
    sms_opt_in: bool = False
    honeypot: str = ""
    stamp: str = ""


@dataclass
class RequestInfo:
    """Where a submission or confirmation came from (proof of consent)."""

    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None


def _clean(form: Form, data: Submission, settings: Settings) -> Person:
    """The person the submission describes, or InvalidInput naming the field."""
    email, problem = abuse.email_problem(data.email, settings.form_dns_check, settings.dns_resolver)
    if email is None:
        raise _invalid("email", problem or "is not a valid email address")
    phone = None
    if "phone" in form.fields and data.phone.strip():
        phone = try_normalize_phone(data.phone, settings.default_phone_region)
        if phone is None:
            raise _invalid("phone", "is not a valid phone number")
    if data.sms_opt_in and phone is None:
        raise _invalid("phone", "give a phone number to get text messages")
    birthday = data.birthday.strip() if "birthday" in form.fields else ""
    if birthday:
        try:
            date.fromisoformat(birthday)
        except ValueError:
            raise _invalid("birthday", "use the form YYYY-MM-DD") from None
    names = {n: getattr(data, n).strip()[:200] or None for n in ("first_name", "last_name") if n in form.fields}
    return Person(email=email, phone=phone, birthday=birthday or None, raw_phone=data.phone.strip() or None, **names)


def submit(
    database: Database, settings: Settings, key: str, data: Submission, info: RequestInfo, now: datetime | None = None
) -> bool:
    """Accept one submission; True when stored, False when dropped as a bot's (answered alike).

    Raises NotFound (no such form), RateLimited (429) or InvalidInput naming the field.
    """
    now = now or utcnow()
    form = _cached_form(database, key)
    limited = abuse.limits.check(info.ip or "?", key, settings.form_rate_per_ip, settings.form_rate_per_form)
    if limited is not None:
        raise RateLimited(limited)
    if abuse.bot_reason(form.id, data.stamp, data.honeypot, now, settings.form_min_fill_seconds):
        return False
    person = _clean(form, data, settings)
    _group_commit(database).store(database, _Stored(form, person, data.sms_opt_in, info, now))
    return True


@dataclass
class _Stored:
    """One accepted submission waiting for the transaction that stores it."""

    form: Form
    person: Person
    sms_opt_in: bool
    info: RequestInfo
    now: datetime
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    error: BaseException | None = None

    def store(self, session: Session) -> None:
        _store(session, self.form, self.person, self.sms_opt_in, self.info, self.now)


class _GroupCommit:
    """Concurrent submissions of one process share a write transaction (group commit, as
    `ingest.service` does for accepts).

    A submission's own work is a handful of statements; BEGIN, COMMIT and its fsync (SQLite
    synchronous=FULL) or its WAL flush (PostgreSQL) cost more, and on SQLite they are paid while
    holding the single write lock, so eight clients queued for it one commit at a time. A
    submission that finds fewer than `LEADERS` commits under way leads: it stores every submission
    waiting at that moment in one transaction, wakes them and hands the lead to the next one
    waiting, if any. Each caller still returns only after the commit that holds its row. When the
    shared transaction fails, each submission of the group is stored again alone, so one bad row
    fails only its own request.
    """

    MAX_GROUP = 64  # bounds the leader's transaction, hence the wait of the ones behind it
    # Groups stored at once. SQLite has one writer anyway; on PostgreSQL two measured slower under
    # bench/forms.py (394-408 against 412-449 submissions/s, 680 against 860 per server CPU-second):
    # a second leader mostly stored lone submissions, paying a whole transaction for each.
    LEADERS = 1

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: list[_Stored] = []
        self._leading = 0

    def store(self, database: Database, item: _Stored) -> None:
        with self._mutex:
            item.leads = self._leading < self.LEADERS
            if item.leads:
                self._leading += 1
            else:
                self._waiting.append(item)
        if not item.leads:
            item.woken.wait()
            if not item.leads:  # a leader stored it (or failed to)
                if item.error is not None:
                    raise item.error
                return
        # Leading (a new lead, or handed the lead and taken off the waiting list): a waiting
        # submission is in exactly one group.
        with self._mutex:
            taken = self.MAX_GROUP - 1
            group, self._waiting = [item, *self._waiting[:taken]], self._waiting[taken:]
        try:
            self._write(database, group)
        except BaseException as exc:  # interrupted: no one in the group may believe it was stored
            for member in group:
                member.error = member.error or exc
            raise
        finally:
            with self._mutex:
                if self._waiting:
                    successor = self._waiting.pop(0)
                    successor.leads = True
                    successor.woken.set()
                else:
                    self._leading -= 1
            for other in group:
                if other is not item:
                    other.woken.set()
        if item.error is not None:
            raise item.error

    @staticmethod
    def _write(database: Database, group: list[_Stored]) -> None:
        by_form: dict[int, list[_Stored]] = {}
        for member in group:
            by_form.setdefault(member.form.id, []).append(member)
        try:
            with database.write() as session:
                for members in by_form.values():
                    items = [(m.person, m.sms_opt_in, m.info, m.now) for m in members]
                    _store_many(session, members[0].form, items)
            return
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
                return
        for member in group:  # the shared transaction failed: each alone, to fail only the bad one
            try:
                with database.write() as session:
                    member.store(session)
            except Exception as exc:
                member.error = exc


_group_commits: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()
_group_commits_mutex = threading.Lock()


def _group_commit(database: Database) -> _GroupCommit:
    with _group_commits_mutex:
        found = _group_commits.get(database)
        if found is None:
            found = _group_commits[database] = _GroupCommit()
        return found


# Forms by key for submissions: a form never changes after it is made, and a busy form's every
# submission would otherwise pay a read transaction for it. Bounded; entries live FORM_CACHE_SECONDS.
FORM_CACHE_SECONDS = 60.0
_form_cache: dict[tuple[int, str], tuple[float, Form]] = {}


def _cached_form(database: Database, key: str) -> Form:
    import time

    cache_key = (id(database), key)
    hit = _form_cache.get(cache_key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    with database.read() as session:
        form = public_form(session, key)
        session.expunge(form)
    if len(_form_cache) > 1000:
        _form_cache.clear()
    _form_cache[cache_key] = (time.monotonic() + FORM_CACHE_SECONDS, form)
    return form


def _store(session: Session, form: Form, person: Person, sms_opt_in: bool, info: RequestInfo, now: datetime) -> None:
    _store_many(session, form, [(person, sms_opt_in, info, now)])


def _store_many(session: Session, form: Form, items: Sequence[tuple[Person, bool, RequestInfo, datetime]]) -> None:
    """Store submissions to one form: the contacts resolved, their consent and its ledger, the
    source records and the submission rows each written with one statement for all of them (a
    group commit's submissions; in submission order, so a repeated address behaves as in turn)."""
    writer = AudienceWriter(session, form.organization_id, f"{SOURCE_PREFIX}{form.id}")
    rows = writer.resolve([person for person, *_ in items])
    kind: dict[str, Any] = {"subscribed": None, "pending": True} if form.double_opt_in else {"subscribed": True}
    via = FORM_PENDING if form.double_opt_in else FORM
    changes: list[tuple[Any, ConsentChange]] = []
    sms_flags: list[bool] = []
    for row, (person, sms_opt_in, info, now) in zip(rows, items, strict=True):
        proof = ConsentProof(form.id, form.consent_text, info.page_url, info.ip, info.user_agent)
        changes.append((row, ConsentChange(EMAIL, via=via, source=writer.source, observed_at=now, proof=proof, **kind)))
        # The SMS box speaks for the number only when the contact holds it (a number already held
        # by another contact stays there: see audience.service).
        sms = sms_opt_in and person.phone is not None and row.phone == person.phone
        sms = sms and form.sms_consent_text is not None
        if sms:
            sms_proof = ConsentProof(form.id, form.sms_consent_text or "", info.page_url, info.ip, info.user_agent)
            changes.append(
                (row, ConsentChange(SMS, via=via, source=writer.source, observed_at=now, proof=sms_proof, **kind))
            )
        sms_flags.append(sms)
    writer.apply_consent(changes)
    writer.flush()
    writer.record_sources([(row, person) for row, (person, *_) in zip(rows, items, strict=True)])
    if not form.double_opt_in:
        _add_labels(session, writer, form, [row.id for row in rows if row.id is not None])
    submissions = [
        _submission_row(form, row.id, person, sms, info, now)
        for row, sms, (person, _, info, now) in zip(rows, sms_flags, items, strict=True)
    ]
    insert_rows(session, FormSubmission, submissions)


def _submission_row(
    form: Form, contact_id: int | None, person: Person, sms: bool, info: RequestInfo, now: datetime
) -> dict[str, Any]:
    """The `form_submissions` row of one stored submission (every column given: one INSERT for a group)."""
    assert contact_id is not None
    doi = form.double_opt_in
    return {
        "organization_id": form.organization_id,
        "form_id": form.id,
        "contact_id": contact_id,
        "email": person.email or "",
        "phone": person.phone,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "birthday": person.birthday,
        "sms_opt_in": sms,
        "consent_text": form.consent_text,
        "sms_consent_text": form.sms_consent_text if sms else None,
        "page_url": info.page_url,
        "ip": info.ip,
        "user_agent": (info.user_agent or "")[:400] or None,
        "double_opt_in": doi,
        "status": PENDING if doi else SUBSCRIBED,
        "expires_at": now + timedelta(days=PENDING_DAYS) if doi else None,
        "email_send_state": QUEUED if doi else None,
        "sms_send_state": QUEUED if doi and sms else None,
        "created_at": now,
    }


def _add_labels(session: Session, writer: AudienceWriter, form: Form, contact_ids: list[int]) -> None:
    """The form's lists, tags, genres and event interest, on the contacts (the lists and tags that
    were deleted since the form was made are skipped)."""
    contact_ids = list(dict.fromkeys(contact_ids))
    list_ids = sorted(existing_list_ids(session, form.organization_id, form.list_ids))
    # The person asked for these lists (confirmed, with double opt-in): a list they had left is joined again.
    writer.add_lists([(contact_id, list_id) for contact_id in contact_ids for list_id in list_ids], by_person=True)
    from fanhub.audience.service import tag_ids_by_name

    tag_ids = sorted(tag_ids_by_name(session, form.organization_id, form.tags).values())
    writer.add_tags([(contact_id, tag_id) for contact_id in contact_ids for tag_id in tag_ids])
    writer.add_genres([(contact_id, genre) for contact_id in contact_ids for genre in form.genres])
    if form.event_id is not None:
        external_id = session.scalar(
            select(Event.external_id).where(Event.organization_id == form.organization_id, Event.id == form.event_id)
        )
        if external_id is not None:
            writer.add_interests(
                [{"contact_id": c, "event_external_id": external_id, "ticketer": None} for c in contact_ids]
            )


# --- confirmation -------------------------------------------------------------------------------


@dataclass
class Confirmation:
    """What the confirmation page shows: the form, the organization, the state after the request."""

    state: str  # "ready" (GET), "confirmed", "already_confirmed", "expired", "invalid"
    form_name: str = ""
    organization_name: str = ""


def _submission_for(session: Session, token: str) -> FormSubmission | None:
    parsed = tokens.read_token(token, CONFIRM)
    if parsed is None or parsed[1] is not None:
        return None
    return session.get(FormSubmission, parsed[0])


def _expired(submission: FormSubmission, now: datetime) -> bool:
    return submission.status == EXPIRED or (submission.expires_at is not None and submission.expires_at <= now)


def confirmation_page(database: Database, token: str, now: datetime | None = None) -> Confirmation:
    """What GET of a confirmation link shows; changes nothing (mail scanners fetch every link)."""
    now = now or utcnow()
    with database.read() as session:
        submission = _submission_for(session, token)
        if submission is None:
            return Confirmation("invalid")
        form = session.get(Form, submission.form_id)
        names = (form.name if form else "", get_organization(session, submission.organization_id).name)
        if submission.status == CONFIRMED:
            return Confirmation("already_confirmed", *names)
        return Confirmation("expired" if _expired(submission, now) else "ready", *names)


def confirm(database: Database, token: str, info: RequestInfo, now: datetime | None = None) -> Confirmation:
    """The POST of a confirmation link: subscribes the email (an explicit opt-in, with the form's
    proof and the confirmer's IP and agent) and adds the form's lists; idempotent."""
    now = now or utcnow()
    with database.write() as session:
        submission = _submission_for(session, token)
        if submission is None:
            return Confirmation("invalid")
        # Claim the confirmation: two POSTs at once (a double click) confirm once.
        claimed = rowcount(
            session.execute(
                update(FormSubmission)
                .where(FormSubmission.id == submission.id, FormSubmission.status == PENDING)
                .where(FormSubmission.expires_at > now)
                .values(status=CONFIRMED, confirmed_at=now, confirm_ip=info.ip, confirm_user_agent=info.user_agent)
            )
        )
        session.refresh(submission)
        form = session.get(Form, submission.form_id)
        names = (form.name if form else "", get_organization(session, submission.organization_id).name)
        if not claimed:
            state = "already_confirmed" if submission.status == CONFIRMED else "expired"
            return Confirmation(state, *names)
        if form is not None:
            _apply_confirmation(session, form, submission, info, now)
        return Confirmation("confirmed", *names)


def _apply_confirmation(
    session: Session, form: Form, submission: FormSubmission, info: RequestInfo, now: datetime
) -> None:
    proof = ConsentProof(form.id, submission.consent_text, submission.page_url, info.ip, info.user_agent)
    source = f"{SOURCE_PREFIX}{form.id}"
    change = ConsentChange(EMAIL, True, FORM_CONFIRM, source, now, proof=proof)
    contact = session.get(Contact, submission.contact_id)
    if contact is None or contact.email != submission.email:
        return  # the contact's address changed since: the confirmation speaks for the old one only
    change_consent(session, form.organization_id, submission.contact_id, change)
    _add_labels(session, AudienceWriter(session, form.organization_id, source), form, [submission.contact_id])


# --- expiry ---------------------------------------------------------------------------------------


def expire_pending(database: Database, now: datetime | None = None, limit: int = 200) -> int:
    """End the requests not confirmed within `PENDING_DAYS`: each channel still pending from such a
    request (the email of an unconfirmed submission; the SMS without its YES, even when the email
    was confirmed) goes back to its prior state through the ledger. Returns the submissions seen."""
    now = now or utcnow()
    with database.write() as session:
        due = list(
            session.scalars(
                select(FormSubmission)
                .where(FormSubmission.status.in_((PENDING, CONFIRMED)), FormSubmission.expires_at <= now)
                .order_by(FormSubmission.expires_at)
                .limit(limit)
            )
        )
        for submission in due:
            channels = [SMS] if submission.sms_opt_in else []
            if submission.status == PENDING:
                submission.status = EXPIRED
                channels.insert(0, EMAIL)
            submission.expires_at = None  # done: the job does not see it again
            _expire_contact(session, submission, channels, now)
        return len(due)


def _expire_contact(session: Session, submission: FormSubmission, channels: list[str], now: datetime) -> None:
    contact = session.get(Contact, submission.contact_id)
    if contact is None:
        return
    cutoff = now - timedelta(days=PENDING_DAYS)
    for channel in channels:
        status_at = getattr(contact, f"{channel}_status_at")
        # A newer request renewed the pending state: it expires on its own schedule.
        if getattr(contact, f"{channel}_status") != PENDING_STATE or (status_at is not None and status_at > cutoff):
            continue
        rows = session.execute(
            select(ConsentEvent.status, ConsentEvent.via, ConsentEvent.source)
            .where(ConsentEvent.contact_id == contact.id, ConsentEvent.channel == channel)
            .order_by(ConsentEvent.id.desc())
            .limit(50)
        ).all()
        source = f"{SOURCE_PREFIX}{submission.form_id}"
        change = pending_expiry_change(channel, [LedgerEntry(*r) for r in rows], now, source)
        if change is not None:
            change_consent(session, contact.organization_id, contact.id, change)
