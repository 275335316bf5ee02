"""Turning bounce reports into what they mean: the delivery failed, the address is suppressed, a
complaint unsubscribes. Every route ends here: DSN files and mailboxes (`apply_message`), provider
webhooks (`apply_reports`), SMTP-time rejections (`apply_smtp_failures`, the sending pipe's hook).

Matching a report to its delivery, in order (issue 19's decisions):
1. the VERP token of the envelope sender it came back to, or the token a provider echoed from the
   metadata headers (both signed: a forged DSN cannot name a delivery);
2. the original Message-ID (what SMTP deliveries record as their `provider_id`);
3. else the latest delivery to the failed address in the 30 days before processing.
A report matched by token or Message-ID applies to that delivery's address, whatever recipient it
names (forwarding). An unmatched report changes nothing: no organization can be told.

Effects, per organization and address:
- hard: suppressed at once; the delivery, if it counted as delivered, becomes undelivered;
- soft: the delivery becomes undelivered (the remote server gave up) and the address is
  suppressed after `FANHUB_SOFT_BOUNCE_LIMIT` soft bounces within 30 days;
- complaint: email unsubscribed in the consent ledger (via `complaint`) and suppressed; the
  delivery stays delivered (it was);
- a bounce never changes consent. A report matched to a delivery an erasure blanked keeps the
  person out: only the erased hash of the address is stored, without the server's words. Each
  report is stored once (`Bounce.replay_key`): the same DSN imported twice or a provider's retried
  event changes nothing the second time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, bindparam, cast, func, insert, literal, select, update
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.audience.consent import EMAIL, ConsentChange
from fanhub.audience.service import change_consent
from fanhub.campaigns import guard
from fanhub.campaigns.models import DELIVERED, FAILED, CampaignStats, Delivery, DeliveryFailure
from fanhub.campaigns.sending import trace
from fanhub.campaigns.sending.deliveries import bump_stats
from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.deliverability.classify import classify
from fanhub.deliverability.dsn import parse_bounce
from fanhub.deliverability.models import Bounce
from fanhub.deliverability.reports import BounceReport

LOOKBACK = timedelta(days=30)
OUTCOMES = ("hard", "soft", "complaints", "ignored", "unmatched", "duplicates")


@dataclass
class Tally:
    """What a batch of reports did; `read` counts messages (or provider requests), the rest reports."""

    read: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    ignored: int = 0
    unmatched: int = 0
    duplicates: int = 0
    campaigns: set[int] = field(default_factory=set)

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def merge(self, other: Tally) -> None:
        self.read += other.read
        for name in OUTCOMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.campaigns |= other.campaigns

    def as_dict(self) -> dict[str, int]:
        return {"read": self.read, **{name: getattr(self, name) for name in OUTCOMES}}


_DELIVERY = (
    Delivery.id,
    Delivery.organization_id,
    Delivery.campaign_id,
    Delivery.contact_id,
    Delivery.channel,
    Delivery.address,
)
CHUNK = 500  # values per IN list (well under every database's bound-parameter limit)
Match = tuple[Any, str]  # (the delivery row or None, how it was matched or "")


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def match_all(session: Session, reports: Sequence[BounceReport], now: datetime) -> list[Match]:
    """Each report's delivery and how it was found, in the order of the module docstring, for a
    whole batch in three set-based lookups: the tokens' delivery ids, then the Message-IDs of the
    reports still unmatched, then their addresses (the latest delivery in the 30 days before `now`)."""
    found: list[Match] = [(None, "")] * len(reports)
    token_ids = [
        (trace.read_delivery_token(report.verp_token), trace.read_delivery_token(report.delivery_ref))
        for report in reports
    ]
    wanted = {delivery_id for pair in token_ids for delivery_id in pair if delivery_id is not None}
    by_id = {
        row.id: row
        for chunk in _chunks(wanted)
        for row in session.execute(select(*_DELIVERY).where(Delivery.id.in_(chunk)))
    }
    for index, (verp_id, metadata_id) in enumerate(token_ids):
        if verp_id in by_id:
            found[index] = (by_id[verp_id], "verp")
        elif metadata_id in by_id:
            found[index] = (by_id[metadata_id], "metadata")
    message_ids = {
        index: f"<{report.message_id.strip().strip('<>')}>"
        for index, report in enumerate(reports)
        if found[index][0] is None and report.message_id
    }
    by_message_id = _by_message_id(session, set(message_ids.values()))
    for index, message_id in message_ids.items():
        if message_id in by_message_id:
            found[index] = (by_message_id[message_id], "message_id")
    addresses = {
        index: suppression.normalized(report.recipient)
        for index, report in enumerate(reports)
        if found[index][0] is None and report.recipient
    }
    latest = _latest_by_address(session, set(addresses.values()), now - LOOKBACK)
    for index, address in addresses.items():
        if address in latest:
            found[index] = (latest[address], "address")
    return found


def _by_message_id(session: Session, message_ids: set[str]) -> dict[str, Any]:
    """The delivery each Message-ID (as SMTP deliveries record it in `provider_id`) names."""
    found: dict[str, Any] = {}
    for chunk in _chunks(sorted(message_ids)):
        query = select(*_DELIVERY, Delivery.provider_id).where(Delivery.provider_id.in_(chunk)).order_by(Delivery.id)
        for row in session.execute(query):
            found.setdefault(row.provider_id, row)
    return found


def _latest_by_address(session: Session, addresses: set[str], since: datetime) -> dict[str, Any]:
    """The latest delivery sent to each address since `since` (ranked per address in the database, so
    an address mailed by many campaigns still costs one row)."""
    found: dict[str, Any] = {}
    for chunk in _chunks(sorted(addresses)):
        rank = func.row_number().over(
            partition_by=Delivery.address, order_by=(Delivery.sent_at.desc(), Delivery.id.desc())
        )
        ranked = select(*_DELIVERY, rank.label("rank")).where(Delivery.address.in_(chunk), Delivery.sent_at >= since)
        inner = ranked.subquery()
        for row in session.execute(select(*(inner.c[column.key] for column in _DELIVERY)).where(inner.c.rank == 1)):
            found[row.address] = row
    return found


def _when(report: BounceReport, now: datetime) -> datetime:
    """When it happened: the report's own time (a naive one is UTC: some MTAs omit the zone), else now."""
    moment = report.occurred_at
    if moment is None:
        return now
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Applier:
    """Applies reports in the caller's transaction, a batch at a time (`apply_all`).

    A batch is matched in a few set-based lookups (`match_all`), and what the effects depend on is
    read once for the batch too (which matched deliveries still count as delivered, each bounced
    address's soft bounces of the last 30 days). Rows, counters and status changes are written by
    `finish()`: one statement per table and chunk, one UPDATE per campaign. So a mailbox of
    thousands of bounces costs a few statements per batch, not several per report.
    """

    def __init__(self, session: Session, settings: Settings, now: datetime | None = None) -> None:
        self.session, self.settings, self.now = session, settings, now or utcnow()
        self.bounces: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.counters: dict[int, Counter[str]] = {}
        self.keys: set[str] = set()
        # Matched deliveries that still count as delivered (read per batch); the ones a bounce
        # turned undelivered, with their error, wait in `failed` for finish()'s UPDATE.
        self.delivered: set[int] = set()
        self.failed: dict[int, str] = {}
        # Soft bounces per (organization, address): stored in the last 30 days (read once per
        # address) and added by this Applier (not stored before finish()).
        self.stored_soft: dict[tuple[int, str], int] = {}
        self.pending_soft: Counter[tuple[int, str]] = Counter()
        # (organization, address) -> (reason, source, detail); the first reason in a batch stands.
        self.to_suppress: dict[tuple[int, str], tuple[str, str, str]] = {}

    def seen(self, keys: Iterable[str]) -> None:
        """Replay keys already stored (looked up once per batch)."""
        for chunk in _chunks(k[:200] for k in keys):
            self.keys.update(self.session.scalars(select(Bounce.replay_key).where(Bounce.replay_key.in_(chunk))))

    def apply_all(
        self, items: Sequence[tuple[BounceReport, str]], matches: Sequence[Match] | None = None
    ) -> list[tuple[str, int | None]]:
        """Each (report, replay key)'s (outcome, a `Tally` field name; the campaign it touched), in
        order. `matches`, when given, are the reports' deliveries already known (SMTP failures)."""
        self.seen(key for _, key in items)
        if matches is None:
            wanted = [i for i, (report, key) in enumerate(items) if _counts(report) and key[:200] not in self.keys]
            found: list[Match] = [(None, "")] * len(items)
            for index, match in zip(
                wanted, match_all(self.session, [items[i][0] for i in wanted], self.now), strict=True
            ):
                found[index] = match
            matches = found
        anonymous, matches = _erased(self.session, items, matches)
        if anonymous is not items:  # replay keys an erased address was hashed in
            items = anonymous
            self.seen(key for _, key in items)
        self._load(
            [
                (report, match[0])
                for (report, _), match in zip(items, matches, strict=True)
                if match[0] is not None and _counts(report)
            ]
        )
        return [self._apply(report, key, match) for (report, key), match in zip(items, matches, strict=True)]

    def _load(self, matched: list[tuple[BounceReport, Any]]) -> None:
        """What the effects of a batch's bounces depend on, read in bulk."""
        bounced = {d.id for report, d in matched if report.kind != "complaint" and d.id not in self.failed}
        for chunk in _chunks(sorted(bounced - self.delivered)):
            query = select(Delivery.id).where(Delivery.id.in_(chunk), Delivery.status == DELIVERED)
            # Locked until commit on PostgreSQL, so finish()'s UPDATE changes exactly these.
            self.delivered.update(self.session.scalars(query.with_for_update()))
        by_org: dict[int, set[str]] = {}
        for report, delivery in matched:
            key = (delivery.organization_id, delivery.address)
            if report.kind == "soft" and key not in self.stored_soft:
                by_org.setdefault(delivery.organization_id, set()).add(delivery.address)
        for org, addresses in by_org.items():
            counts = _recent_soft_bounces(self.session, org, addresses, self.now)
            self.stored_soft.update({(org, address): counts.get(address, 0) for address in addresses})

    def _apply(self, report: BounceReport, replay_key: str, matched: Match) -> tuple[str, int | None]:
        if not _counts(report):
            return "ignored", None
        key = replay_key[:200]
        if key in self.keys:
            return "duplicates", None
        delivery, matched_by = matched
        if delivery is None:
            return "unmatched", None
        self.keys.add(key)
        self.bounces.append(_bounce_row(report, delivery, matched_by, key, self.now))
        self._effects(report, delivery)
        return ("complaints" if report.kind == "complaint" else report.kind), delivery.campaign_id

    def _effects(self, report: BounceReport, delivery: Any) -> None:
        org, address, source = delivery.organization_id, delivery.address, f"bounce:{report.source}"
        detail = " ".join(filter(None, (report.status, report.diagnostic))) or report.reason
        counters = self.counters.setdefault(delivery.campaign_id, Counter())
        if report.kind == "complaint":
            counters["complaints"] += 1
            if delivery.channel == EMAIL:
                change = ConsentChange(EMAIL, False, "complaint", source, _when(report, self.now))
                change_consent(self.session, org, delivery.contact_id, change)
            self._suppress(org, address, suppression.COMPLAINT, source, detail)
            return
        counters["hard_bounces" if report.kind == "hard" else "soft_bounces"] += 1
        self._undelivered(delivery, report, detail, counters)
        if report.kind == "hard":
            self._suppress(org, address, suppression.HARD_BOUNCE, source, detail)
            return
        self.pending_soft[(org, address)] += 1
        recent = self.stored_soft.get((org, address), 0) + self.pending_soft[(org, address)]
        if recent >= self.settings.soft_bounce_limit:
            self._suppress(org, address, suppression.SOFT_BOUNCE, source, detail)

    def _undelivered(self, delivery: Any, report: BounceReport, detail: str, counters: Counter[str]) -> None:
        """A delivery the provider had accepted that bounced later now counts as undelivered (the
        first bounce of it says why)."""
        if delivery.id not in self.delivered:
            return
        self.delivered.discard(delivery.id)
        self.failed[delivery.id] = f"bounce {report.kind}: {detail}"[:2000]
        counters.update({"delivered": -1, "undelivered": 1})
        self.failures.append(
            {
                "delivery_id": delivery.id,
                "campaign_id": delivery.campaign_id,
                "kind": f"bounce_{report.kind}",
                "code": report.status,
                "detail": detail[:2000],
                "permanent": report.kind == "hard",
                "occurred_at": self.now,
            }
        )

    def _suppress(self, org: int, address: str, reason: str, source: str, detail: str) -> None:
        self.to_suppress.setdefault((org, address), (reason, source, detail))

    def finish(self) -> None:
        if self.failed:
            # Core executemany: the rows were locked and checked by _load, the guard is for safety.
            failed = (
                update(Delivery)
                .where(Delivery.id == bindparam("failed_id"), Delivery.status == DELIVERED)
                .values(status=FAILED, error=bindparam("failed_error"))
            )
            params = [{"failed_id": key, "failed_error": error} for key, error in self.failed.items()]
            self.session.connection().execute(failed, params)
        # Core INSERTs (executemany): every column is given, so the ORM's per-row work buys nothing.
        if self.bounces:
            self.session.connection().execute(insert(Bounce), self.bounces)
        if self.failures:
            self.session.connection().execute(insert(DeliveryFailure), self.failures)
        for campaign_id, counters in self.counters.items():
            bump_stats(self.session, campaign_id, **counters)
        by_org: dict[int, dict[str, tuple[str, str, str]]] = {}
        for (org, address), entry in self.to_suppress.items():
            by_org.setdefault(org, {})[address] = entry
        for org, entries in by_org.items():
            suppression.suppress_many(self.session, org, entries)
        self.bounces, self.failures, self.counters, self.to_suppress, self.failed = [], [], {}, {}, {}
        self.stored_soft, self.pending_soft = {}, Counter()


def _erased(
    session: Session, items: Sequence[tuple[BounceReport, str]], matches: Sequence[Match]
) -> tuple[Sequence[tuple[BounceReport, str]], Sequence[Match]]:
    """Reports matched to a delivery an erasure blanked (privacy/erase.py leaves its address ""):
    the remote server's words, which name the person, are dropped, the replay key holds the
    recipient's hash instead of the recipient, and the address goes into `bounces` and the
    suppression list only as its erased hash, when that hash is listed."""
    blanked = [i for i, (delivery, _) in enumerate(matches) if delivery is not None and not delivery.address]
    if not blanked:
        return items, matches
    items, matches = list(items), list(matches)
    for index in blanked:
        (report, key), (delivery, matched_by) = items[index], matches[index]
        org, recipient = delivery.organization_id, report.recipient or ""
        hashed = suppression.erased_key(org, recipient) if suppression.erased_since(session, org, [recipient]) else ""
        if recipient:
            key = key.replace(recipient, suppression.erased_key(org, recipient))
        items[index] = (replace(report, diagnostic=None), key)
        matches[index] = (SimpleNamespace(**{**delivery._asdict(), "address": hashed}), matched_by)
    return items, matches


def _counts(report: BounceReport) -> bool:
    """A report that can change something (ignored ones are only counted)."""
    return report.kind != "ignored"


def _bounce_row(report: BounceReport, delivery: Any, matched_by: str, replay_key: str, now: datetime) -> dict[str, Any]:
    return {
        "organization_id": delivery.organization_id,
        "address": delivery.address,
        "kind": report.kind,
        "reason": report.reason[:60],
        "status": report.status,
        "diagnostic": report.diagnostic,
        "source": report.source[:40],
        "campaign_id": delivery.campaign_id,
        "delivery_id": delivery.id,
        "matched_by": matched_by,
        "sender_warning": report.sender_warning,
        "replay_key": replay_key,
        "occurred_at": _when(report, now),
        "created_at": now,
    }


def _recent_soft_bounces(
    session: Session, organization_id: int, addresses: Iterable[str], now: datetime
) -> dict[str, int]:
    """Each address's stored soft bounces in the 30 days before `now` (absent: none)."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(addresses)):
        query = (
            select(Bounce.address, func.count())
            .where(
                Bounce.organization_id == organization_id,
                Bounce.address.in_(chunk),
                Bounce.kind == "soft",
                Bounce.occurred_at >= now - LOOKBACK,
            )
            .group_by(Bounce.address)
        )
        found.update({address: int(count) for address, count in session.execute(query)})
    return found


def apply_reports(
    database: Database, reports: Iterable[tuple[BounceReport, str]], settings: Settings | None = None
) -> Tally:
    """Apply (report, replay key) pairs in one transaction, then let the reputation guard look at
    the campaigns they touched."""
    settings = settings or get_settings()
    pairs = list(reports)
    tally = Tally()
    with database.write() as session:
        applier = Applier(session, settings)
        for outcome, campaign_id in applier.apply_all(pairs):
            tally.add(outcome)
            if campaign_id is not None:
                tally.campaigns.add(campaign_id)
        applier.finish()
    _guard(database, tally, settings)
    return tally


def message_reports(raw: bytes, settings: Settings) -> list[tuple[BounceReport, str]]:
    """The reports of one raw message, each keyed by the message's digest and its recipient."""
    digest = hashlib.sha256(raw).hexdigest()[:40]
    return [
        (report, f"msg:{digest}:{report.recipient or index}")
        for index, report in enumerate(parse_bounce(raw, bounce_address=settings.bounce_address))
    ]


def apply_message(database: Database, raw: bytes, settings: Settings | None = None) -> Tally:
    settings = settings or get_settings()
    tally = apply_reports(database, message_reports(raw, settings), settings)
    tally.read = 1
    return tally


def apply_smtp_failures(database: Database, campaign_id: int, delivery_ids: list[int]) -> None:
    """The sending pipe's hook: SMTP-time rejections (and deferrals that ran out) of one slice,
    classified like any bounce. The delivery already counts as undelivered."""
    settings = get_settings()
    with database.write() as session:
        failures = session.execute(
            select(DeliveryFailure.delivery_id, DeliveryFailure.kind, DeliveryFailure.code, DeliveryFailure.detail)
            .where(
                DeliveryFailure.delivery_id.in_(delivery_ids),
                DeliveryFailure.kind.in_(("smtp_rejected", "smtp_deferred")),
            )
            .order_by(DeliveryFailure.id)
        ).all()
        wanted = sorted({row.delivery_id for row in failures})
        deliveries = {
            row.id: row
            for chunk in _chunks(wanted)
            for row in session.execute(select(*_DELIVERY).where(Delivery.id.in_(chunk)))
        }
        items: list[tuple[BounceReport, str]] = []
        matches: list[Match] = []
        for delivery_id, kind, code, detail in failures:
            delivery = deliveries.get(delivery_id)
            if delivery is None:
                continue
            verdict = classify(None, f"{code or ''} {detail or ''}".strip())
            report = BounceReport(
                # Deferrals that ran out are never proof that the address is dead.
                kind="soft" if kind == "smtp_deferred" else verdict.kind,
                reason=verdict.reason,
                recipient=delivery.address,
                diagnostic=(detail or "")[:500],
                source="smtp",
                sender_warning=verdict.sender_warning,
            )
            items.append((report, f"smtp:{delivery_id}"))
            matches.append((delivery, "smtp"))
        applier = Applier(session, settings)
        applier.apply_all(items, matches)
        applier.finish()
    _guard(database, Tally(campaigns={campaign_id}), settings)


def _guard(database: Database, tally: Tally, settings: Settings) -> None:
    for campaign_id in sorted(tally.campaigns):
        with database.write() as session:
            if session.get(CampaignStats, campaign_id) is not None:
                guard.check(session, campaign_id, settings)


def catch_up_smtp_failures(database: Database, since: timedelta = timedelta(days=1), limit: int = 1000) -> int:
    """SMTP-time failures whose classification a crash cut off (the pipe's hook runs after the slice
    committed): classify them now. Returns how many were found."""
    cutoff = utcnow() - since
    with database.read() as session:
        missed = session.execute(
            select(DeliveryFailure.campaign_id, DeliveryFailure.delivery_id)
            .outerjoin(Bounce, Bounce.replay_key == literal("smtp:") + cast(DeliveryFailure.delivery_id, String))
            .where(
                DeliveryFailure.kind.in_(("smtp_rejected", "smtp_deferred")),
                DeliveryFailure.occurred_at >= cutoff,
                Bounce.id.is_(None),
            )
            .limit(limit)
        ).all()
    by_campaign: dict[int, list[int]] = {}
    for campaign_id, delivery_id in missed:
        by_campaign.setdefault(campaign_id, []).append(delivery_id)
    for campaign_id, delivery_ids in by_campaign.items():
        apply_smtp_failures(database, campaign_id, delivery_ids)
    return len(missed)
