"""The per-campaign pipe (after listmonk's manager pipe): one slice of a sending campaign at a time.

`send_slice` reserves the next batch of deliveries, builds each recipient's message, claims it,
pushes it through the transport and records the outcome, pacing messages to the campaign's and
the provider's rate limits. The at-most-once rules are in the package docstring; the SQL is in
`deliveries`.

Pause and cancel (`campaigns/lifecycle.py`): a slice is only reserved for a `sending` campaign, and
a slice in progress reads its campaign's status every `STATUS_CHECK_SECONDS` (`StatusWatch`); once
it is no longer `sending`, the recipients not yet claimed go back to `pending` and the slice stops
(`SliceResult.stopped` names the status). Messages already claimed keep their real outcome.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from fanhub.audience.models import SUBSCRIBED
from fanhub.campaigns.merge import renderer_for
from fanhub.campaigns.models import (
    DEFERRED,
    DELIVERED,
    EMAIL,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    UNKNOWN,
    Campaign,
    CampaignStats,
)
from fanhub.campaigns.render import Recipient
from fanhub.campaigns.sending import deliveries
from fanhub.campaigns.sending.deliveries import LEASE_SECONDS, WORKER_ID, Mark, OutcomeWriter, failure_mark
from fanhub.campaigns.sending.message import LinkBook, MessageBuilder, message_domain
from fanhub.campaigns.sending.transport import (
    Deferred,
    EmailTransport,
    Message,
    Rejected,
    Transport,
    TryLater,
    email_transport,
    sms_transport,
)
from fanhub.catalog.models import Event
from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.organizations.sending_domains import dkim_signer_for
from fanhub.organizations.service import get_organization, sender_address

# A provider that keeps saying "try later" for a message: it fails after this many attempts.
MAX_ATTEMPTS = 3
# A recipient's server that keeps deferring (SMTP 4xx): retried after 5 min, 10, 20, ... (at most
# 6 hours apart) until this long after the first deferral, then it fails as a soft bounce.
DEFER_HOURS = 72
_FIRST_RETRY_SECONDS = 300
_MAX_RETRY_SECONDS = 6 * 3600


def retry_delay(deferrals: int) -> timedelta:
    """The wait before retrying a delivery deferred `deferrals` times (1 = its first deferral)."""
    return timedelta(seconds=min(_MAX_RETRY_SECONDS, _FIRST_RETRY_SECONDS * 2 ** max(0, deferrals - 1)))


# Called after each slice with the deliveries that failed for good at the provider (SMTP 5xx,
# deferrals past DEFER_HOURS): `fanhub.wiring` connects `deliverability.apply` (classification,
# suppression), which sits above campaigns.
on_failures: list[Callable[[Database, int, list[int]], None]] = []
# How often a slice in progress looks at its campaign's status: a pause or cancel stops it within
# this time (campaigns/lifecycle.py), for one small read.
STATUS_CHECK_SECONDS = 0.5


class StatusWatch:
    """Tells a slice in progress that its campaign stopped sending (paused, cancelled), reading the
    campaign's status at most every `every` seconds."""

    def __init__(self, database: Database, campaign_id: int, every: float | None = None) -> None:
        self.database, self.campaign_id = database, campaign_id
        self.every = STATUS_CHECK_SECONDS if every is None else every
        self._next = time.monotonic() + self.every

    def stopped(self) -> str | None:
        """The campaign's status when it is no longer `sending`, else None."""
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.every
        with self.database.read() as session:
            campaign = session.get(Campaign, self.campaign_id)
            status = campaign.status if campaign is not None else "deleted"
        return None if status == SENDING else status


# --- rate limiting -------------------------------------------------------------------------------


class RateLimiter:
    """Even pacing (no bursts: providers count per second) that sleeps the caller; thread-safe."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def wait(self) -> None:
        if self.per_second <= 0:
            return
        with self._lock:
            now = time.monotonic()
            interval = 1.0 / self.per_second
            start = max(self._next, now)
            self._next = start + interval
            delay = start - now
        if delay > 0:
            time.sleep(delay)


# One limiter per provider and rate for the whole process: every campaign sending through a
# provider shares its limit.
_provider_limiters: dict[tuple[str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


def provider_limiter(provider: str, per_second: float) -> RateLimiter:
    with _limiters_lock:
        return _provider_limiters.setdefault((provider, per_second), RateLimiter(per_second))


# --- lanes: provider connections -----------------------------------------------------------------


@dataclass
class Transports:
    """One lane: a connection per channel, opened on first use and kept from slice to slice."""

    email: EmailTransport | Transport | None = None
    sms: Transport | None = None

    def close(self) -> None:
        for transport in (self.email, self.sms):
            if transport is not None:
                transport.close()


def new_lanes(settings: Settings) -> list[Transports]:
    """One (not yet connected) Transports per provider connection a sending worker may use."""
    return [Transports() for _ in range(settings.campaign_send_connections)]


def _as_list(transports: Transports | list[Transports]) -> list[Transports]:
    return transports if isinstance(transports, list) else [transports]


def _channel_transports(lanes: list[Transports], channel: str, settings: Settings) -> list[Transport]:
    """Each lane's transport for `channel`, created from the settings where the lane has none."""
    chosen: list[Transport] = []
    for lane in lanes:
        if channel == EMAIL:
            if lane.email is None:
                lane.email = email_transport(settings)
            chosen.append(lane.email)
        else:
            if lane.sms is None:
                lane.sms = sms_transport(settings)
            chosen.append(lane.sms)
    return chosen


class _Lanes:
    """Provider calls, each lane (one connection) carrying one message at a time.

    With one lane the call runs inline. With more, lanes run in threads: a provider round trip is
    mostly waiting (MAIL, RCPT, DATA and the message each wait for the server), so a second
    connection overlaps that wait with the next message's rendering, claim and send.
    """

    def __init__(self, transports: list[Transport]) -> None:
        self.width = len(transports)
        self._free: queue.SimpleQueue[Transport] = queue.SimpleQueue()
        for transport in transports:
            self._free.put(transport)
        self._pool = ThreadPoolExecutor(self.width, thread_name_prefix="fanhub-send") if self.width > 1 else None

    def submit(self, message: Message) -> Future[Any]:
        if self._pool is None:
            done: Future[Any] = Future()
            done.set_result(self._call(message))
            return done
        return self._pool.submit(self._call, message)

    def _call(self, message: Message) -> Any:
        """The provider id (or None) on success, else the exception the provider call raised."""
        transport = self._free.get()
        try:
            if message.sign is not None:
                message.body, message.sign = message.sign(message.body), None  # once, even if pushed again
            return transport.push(message)
        except BaseException as exc:  # _settle() decides; a dying process's exceptions are re-raised there
            return exc
        finally:
            self._free.put(transport)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


# --- a slice -------------------------------------------------------------------------------------


@dataclass
class SliceResult:
    reserved: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    retry: int = 0
    deferred: int = 0  # deferred during this slice, or (nothing else left) waiting for their retry
    finished: bool = False
    stopped: str | None = None
    failed_ids: list[int] = field(default_factory=list)  # failed for good at the provider (on_failures)


@dataclass
class _Batch:
    """A reserved slice, ready to send: its deliveries and what builds their messages."""

    campaign_id: int
    channel: str
    rows: Sequence[Any]
    builder: MessageBuilder
    per_second: float


@dataclass
class Pipe:
    """Pushes one reserved slice through the lanes: claim, push, settle, record (at-most-once)."""

    batch: _Batch
    lanes: _Lanes
    campaign_limiter: RateLimiter
    provider_limiter: RateLimiter
    result: SliceResult = field(default_factory=SliceResult)
    watch: StatusWatch | None = None
    # Outcomes settled but not yet written: they ride on the next claim's commit.
    marks: list[Mark] = field(default_factory=list)
    in_flight: deque[tuple[Any, Message, Future[Any]]] = field(default_factory=deque)

    def run(self, writer: OutcomeWriter) -> SliceResult:
        self._push_all(writer)
        while self.in_flight:
            self._settle()  # after a stop too: messages already handed over keep their real outcome
        writer.commit(self.marks, claim=None)
        if self.result.delivered:
            writer.add_delivered(self.result.delivered)
        return self.result

    def _push_all(self, writer: OutcomeWriter) -> None:
        rows, result, campaign_id = self.batch.rows, self.result, self.batch.campaign_id
        built = _BuiltAhead(rows, self.batch.builder)
        for index, row in enumerate(rows):
            if row.status != SUBSCRIBED or row.suppressed:
                why = "suppressed" if row.suppressed else "unsubscribed"
                counters = {"skipped": 1, "suppressed": 1} if row.suppressed else {"skipped": 1}
                self.marks.append(Mark(row.id, SKIPPED, error=f"{why} before sending", counters=counters))
                result.skipped += 1
                continue
            message = built.take(index)
            if isinstance(message, Exception):  # a template that rendered for the sample but not for this contact
                self.marks.append(failure_mark(row.id, campaign_id, "render_error", None, str(message)))
                continue
            if len(self.in_flight) >= self.lanes.width and not self._settle():
                # The provider is down or throttling: hand the rest of the slice back and stop.
                self.marks += [Mark(r.id, PENDING) for r in rows[index:]]
                return
            status = self.watch.stopped() if self.watch is not None else None
            if status is not None:
                # Paused or cancelled meanwhile: nobody else from this slice is handed to a provider.
                self.marks += [Mark(r.id, PENDING) for r in rows[index:]]
                result.stopped = status
                return
            self.campaign_limiter.wait()
            self.provider_limiter.wait()
            # The claim is committed before the provider call, together with the outcomes
            # settled since: one commit per message, and never more in flight than connections.
            claimed = writer.commit(self.marks, claim=row.id)
            self.marks = []
            if not claimed:
                continue  # recovered by someone else meanwhile: not ours any more
            self.in_flight.append((row, message, self.lanes.submit(message)))

    def _settle(self) -> bool:
        """Wait for the oldest message in the provider's hands and turn its outcome into a mark; False = stop."""
        if not self.in_flight:
            return True
        row, message, pending = self.in_flight.popleft()
        outcome = pending.result()
        result, campaign_id = self.result, self.batch.campaign_id
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome  # the process is going down (KeyboardInterrupt, SystemExit): leave rows as they are
        if isinstance(outcome, Rejected):
            self.marks.append(failure_mark(row.id, campaign_id, outcome.kind, outcome.code, outcome.detail))
            result.failed += 1
            result.failed_ids.append(row.id)
        elif isinstance(outcome, Deferred):
            self._defer(row, outcome)
        elif isinstance(outcome, TryLater):
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                self.marks.append(failure_mark(row.id, campaign_id, "provider_unavailable", None, str(outcome)))
                result.failed += 1
            else:
                self.marks.append(Mark(row.id, PENDING, error=str(outcome)[:500], attempts=attempts))
                result.retry += 1
            result.stopped = str(outcome)
            return False
        elif isinstance(outcome, Exception):
            # Ambiguous, or anything unforeseen during the provider call: maybe sent, never retried.
            error = f"{outcome}; not retried (at-most-once)"[:2000]
            self.marks.append(Mark(row.id, UNKNOWN, error=error, counters={"unknown": 1}))
            result.unknown += 1
        else:
            self.marks.append(Mark(row.id, DELIVERED, sent_at=utcnow(), provider_id=outcome or message.message_id))
            result.delivered += 1
        return True

    def _defer(self, row: Any, outcome: Deferred) -> None:
        """A 4xx for this recipient: retry later with backoff, or fail as a soft bounce past DEFER_HOURS."""
        now = utcnow()
        since = row.deferred_since or now
        if now - since >= timedelta(hours=DEFER_HOURS):
            detail = f"still deferred after {DEFER_HOURS} hours: {outcome.detail}"
            self.marks.append(failure_mark(row.id, self.batch.campaign_id, "smtp_deferred", outcome.code, detail))
            self.result.failed += 1
            self.result.failed_ids.append(row.id)
            return
        deferrals = max(1, row.attempts)  # `attempts` counts the claims before this one
        self.marks.append(
            Mark(
                row.id,
                DEFERRED,
                error=f"deferred {outcome.code}: {outcome.detail}"[:500],
                next_attempt_at=now + retry_delay(deferrals),
                deferred_since=since,
            )
        )
        self.result.deferred += 1


class _BuiltAhead:
    """A slice's messages, built `AHEAD` sendable rows at a time. A DKIM-signed group goes to the
    signing process as it is built (`message.sign_early`, a few requests a group), while the
    previous group is claimed and pushed, so a connection finds its signature done. Unsigned mail
    gains too: rendering in bursts between claims sent 1,380-1,390 emails/s instead of 1,100-1,160
    (bench/send.py, 10k). A message built but never pushed (the slice stopped) is dropped."""

    AHEAD = 32

    def __init__(self, rows: Sequence[Any], builder: MessageBuilder) -> None:
        self.rows, self.builder = rows, builder
        self.messages: dict[int, Message | Exception] = {}
        self.next = 0  # the first row not yet looked at

    def take(self, index: int) -> Message | Exception:
        """Row `index`'s message (it is sendable); builds the next group when fewer than a group wait."""
        while self.next < len(self.rows) and (self.next <= index or len(self.messages) < self.AHEAD):
            indexes: list[int] = []
            while self.next < len(self.rows) and len(indexes) < self.AHEAD:
                row = self.rows[self.next]
                if row.status == SUBSCRIBED and not row.suppressed:
                    indexes.append(self.next)
                self.next += 1
            built = self.builder.build_many([_recipient(self.rows[i]) for i in indexes])
            self.messages.update(zip(indexes, built, strict=True))
        return self.messages.pop(index)


def _recipient(row: Any) -> Recipient:
    return Recipient(
        delivery_id=row.id,
        address=row.address,
        first_name=row.first_name,
        last_name=row.last_name,
        full_name=row.full_name,
        email=row.email,
        phone=row.phone,
        contact_id=row.contact_id,
    )


def send_slice(
    database: Database,
    campaign_id: int,
    *,
    transports: Transports | list[Transports] | None = None,
    settings: Settings | None = None,
    batch_size: int | None = None,
    worker: str = WORKER_ID,
    lease_seconds: float = LEASE_SECONDS,
) -> SliceResult:
    """Send the next slice of a sending campaign; marks it sent when nothing is left.

    A single Transports handed in is used as it is, one message at a time; a list is one lane
    (connection) per entry; without any, `campaign_send_connections` lanes of our own.
    """
    settings = settings or get_settings()
    with database.write() as session:
        batch = _reserve_batch(session, database, campaign_id, settings, batch_size, worker, lease_seconds)
    if isinstance(batch, SliceResult):
        return batch
    own = transports is None
    lanes = new_lanes(settings) if transports is None else _as_list(transports)
    try:
        pipe = Pipe(
            batch,
            _Lanes(_channel_transports(lanes, batch.channel, settings)),
            RateLimiter(batch.per_second),
            provider_limiter(
                "smtp" if batch.channel == EMAIL else "sms",
                settings.smtp_per_second if batch.channel == EMAIL else settings.sms_per_second,
            ),
            SliceResult(reserved=len(batch.rows)),
            watch=StatusWatch(database, campaign_id),
        )
        try:
            with OutcomeWriter.open(database, settings, campaign_id, worker) as writer:
                result = pipe.run(writer)
        finally:
            pipe.lanes.stop()
        if result.failed_ids:
            for hook in on_failures:
                hook(database, campaign_id, result.failed_ids)
        return result
    finally:
        if own:
            for lane in lanes:
                lane.close()


def _reserve_batch(
    session: Session,
    database: Database,
    campaign_id: int,
    settings: Settings,
    batch_size: int | None,
    worker: str,
    lease_seconds: float,
) -> _Batch | SliceResult:
    """Reserve the next slice (after recovering dead workers' rows), or finish the campaign when
    nothing is left; a SliceResult means there is nothing to send now."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != SENDING:
        return SliceResult(finished=True)
    stats = session.get(CampaignStats, campaign_id)
    deliveries.recover_stale(session, campaign_id, lease_seconds)
    per_second = (stats.send_per_second if stats and stats.send_per_second else None) or (
        settings.campaign_send_per_second
    )
    limit = batch_size or settings.campaign_batch_size
    if per_second > 0:
        # Keep a slice well inside the lease when the sender is throttled.
        limit = max(1, min(limit, int(per_second * 60)))
    ids = deliveries.reserve(session, campaign_id, limit, worker)
    if not ids:
        if deliveries.waiting(session, campaign_id):
            return SliceResult()
        deferred = deliveries.deferred(session, campaign_id)
        if deferred:
            return SliceResult(deferred=deferred)  # only scheduled retries left
        if campaign.flow_id is not None:
            return SliceResult()  # a flow's step campaign stays open: its flow adds messages (flows/messages.py)
        # Finishing: lock the row and look again, so a pause or cancel committed meanwhile stands.
        session.refresh(campaign, with_for_update=True)
        if campaign.status != SENDING:
            return SliceResult(finished=True)
        campaign.status = SENT
        if stats is not None:
            stats.finished_at = utcnow()
            stats.delivered = deliveries.delivered(session, campaign_id)
        return SliceResult(finished=True)
    rows = deliveries.recipients(session, campaign.type, ids)
    return _Batch(campaign_id, campaign.type, rows, _builder(session, database, campaign, settings), per_second)


def _builder(session: Session, database: Database, campaign: Campaign, settings: Settings) -> MessageBuilder:
    event_url = None
    if campaign.event_id is not None:
        event = session.get(Event, campaign.event_id)
        event_url = event.url if event else None
    links = LinkBook(database, campaign.id, event_url)
    from_header = sender_address(get_organization(session, campaign.organization_id), settings)
    sign = dkim_signer_for(session, campaign.organization_id, message_domain(from_header))
    renderer = renderer_for(session, campaign, links)
    return MessageBuilder(settings, campaign.id, campaign.type, from_header, renderer, sign)
