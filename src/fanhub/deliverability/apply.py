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
- a bounce never changes consent. Each report is stored once (`Bounce.replay_key`): the same DSN
  imported twice or a provider's retried event changes nothing the second time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, func, insert, literal, select, update
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


def _match(session: Session, report: BounceReport, now: datetime) -> tuple[Any, str]:
    for token, how in ((report.verp_token, "verp"), (report.delivery_ref, "metadata")):
        delivery_id = trace.read_delivery_token(token)
        if delivery_id is not None:
            row = session.execute(select(*_DELIVERY).where(Delivery.id == delivery_id)).first()
            if row is not None:
                return row, how
    if report.message_id:
        mid = report.message_id.strip().strip("<>")
        row = session.execute(select(*_DELIVERY).where(Delivery.provider_id == f"<{mid}>").limit(1)).first()
        if row is not None:
            return row, "message_id"
    if report.recipient:
        row = session.execute(
            select(*_DELIVERY)
            .where(Delivery.address == suppression.normalized(report.recipient), Delivery.sent_at >= now - LOOKBACK)
            .order_by(Delivery.sent_at.desc())
            .limit(1)
        ).first()
        if row is not None:
            return row, "address"
    return None, ""


def _when(report: BounceReport, now: datetime) -> datetime:
    """When it happened: the report's own time (a naive one is UTC: some MTAs omit the zone), else now."""
    moment = report.occurred_at
    if moment is None:
        return now
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Applier:
    """Applies reports in the caller's transaction. Rows and counters are written in bulk by
    `finish()` (one INSERT per table, one UPDATE per campaign), so a mailbox of thousands of
    bounces costs a few statements per report, not a unit-of-work flush each."""

    def __init__(self, session: Session, settings: Settings, now: datetime | None = None) -> None:
        self.session, self.settings, self.now = session, settings, now or utcnow()
        self.bounces: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.counters: dict[int, Counter[str]] = {}
        self.keys: set[str] = set()
        self.pending_soft: Counter[tuple[int, str]] = Counter()
        # (organization, address) -> (reason, source, detail); the first reason in a batch stands.
        self.to_suppress: dict[tuple[int, str], tuple[str, str, str]] = {}

    def seen(self, keys: Iterable[str]) -> None:
        """Replay keys already stored (looked up once per batch)."""
        wanted = [k[:200] for k in keys]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            self.keys.update(self.session.scalars(select(Bounce.replay_key).where(Bounce.replay_key.in_(chunk))))

    def apply(
        self, report: BounceReport, replay_key: str, matched: tuple[Any, str] | None = None
    ) -> tuple[str, int | None]:
        """(outcome, a `Tally` field name; the campaign it touched)."""
        if report.kind == "ignored":
            return "ignored", None
        key = replay_key[:200]
        if key in self.keys:
            return "duplicates", None
        delivery, matched_by = matched or _match(self.session, report, self.now)
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
        recent = _recent_soft_bounces(self.session, org, address, self.now) + self.pending_soft[(org, address)]
        if recent >= self.settings.soft_bounce_limit:
            self._suppress(org, address, suppression.SOFT_BOUNCE, source, detail)

    def _undelivered(self, delivery: Any, report: BounceReport, detail: str, counters: Counter[str]) -> None:
        """A delivery the provider had accepted that bounced later now counts as undelivered."""
        changed = self.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id, Delivery.status == DELIVERED)
            .values(status=FAILED, error=f"bounce {report.kind}: {detail}"[:2000])
        )
        if getattr(changed, "rowcount", 0) == 1:
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
        if self.bounces:
            self.session.execute(insert(Bounce), self.bounces)
        if self.failures:
            self.session.execute(insert(DeliveryFailure), self.failures)
        for campaign_id, counters in self.counters.items():
            bump_stats(self.session, campaign_id, **counters)
        by_org: dict[int, dict[str, tuple[str, str, str]]] = {}
        for (org, address), entry in self.to_suppress.items():
            by_org.setdefault(org, {})[address] = entry
        for org, entries in by_org.items():
            suppression.suppress_many(self.session, org, entries)
        self.bounces, self.failures, self.counters, self.to_suppress = [], [], {}, {}


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


def _recent_soft_bounces(session: Session, organization_id: int, address: str, now: datetime) -> int:
    query = select(func.count()).where(
        Bounce.organization_id == organization_id,
        Bounce.address == address,
        Bounce.kind == "soft",
        Bounce.occurred_at >= now - LOOKBACK,
    )
    return int(session.scalar(query) or 0)


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
        applier.seen(key for _, key in pairs)
        for report, replay_key in pairs:
            outcome, campaign_id = applier.apply(report, replay_key)
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
        applier = Applier(session, settings)
        applier.seen(f"smtp:{row.delivery_id}" for row in failures)
        for delivery_id, kind, code, detail in failures:
            verdict = classify(None, f"{code or ''} {detail or ''}".strip())
            delivery = session.execute(select(*_DELIVERY).where(Delivery.id == delivery_id)).first()
            if delivery is None:
                continue
            report = BounceReport(
                # Deferrals that ran out are never proof that the address is dead.
                kind="soft" if kind == "smtp_deferred" else verdict.kind,
                reason=verdict.reason,
                recipient=delivery.address,
                diagnostic=(detail or "")[:500],
                source="smtp",
                sender_warning=verdict.sender_warning,
            )
            applier.apply(report, f"smtp:{delivery_id}", matched=(delivery, "smtp"))
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
