"""What the manager and MCP show about deliverability: the suppression list (counts per reason, an
export read in short transactions), the sender warning (a recent rejection about the sender's own
domain or reputation), and one campaign's bounce figures and guard pause.

Front doors build no SQL (tests/test_layering.py), so every query they need lives here or in
`audience/suppression.py`; the rules (what suppresses, what pauses) stay in `apply.py` and
`campaigns/guard.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanhub.addresses import try_normalize_email
from fanhub.audience import suppression
from fanhub.audience.suppression import Suppression
from fanhub.campaigns.lifecycle import ACKNOWLEDGED
from fanhub.campaigns.models import PAUSED, CampaignStats
from fanhub.campaigns.repository import CampaignRepository
from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.deliverability.models import Bounce
from fanhub.errors import InvalidInput

SENDER_WARNING_DAYS = 7
EXPORT_COLUMNS = ("address", "reason", "source", "detail", "created_at")


# --- the suppression list ----------------------------------------------------------------------------


def reason_counts(session: Session, organization_id: int) -> dict[str, int]:
    """Entries per reason, every reason present (zero when none), in `suppression.REASONS` order."""
    rows = session.execute(
        select(Suppression.reason, func.count())
        .where(Suppression.organization_id == organization_id)
        .group_by(Suppression.reason)
    )
    found = {str(reason): int(count) for reason, count in rows}
    return {reason: found.get(reason, 0) for reason in suppression.REASONS}


def add_by_staff(session: Session, organization_id: int, address: str, actor: str) -> tuple[str, bool]:
    """Suppress `address` by hand (reason `manual`, source the staff member); (normalized, was new).
    An address that is not one is refused naming the field."""
    normalized = try_normalize_email(address)
    if normalized is None:
        message = f"{address[:80]!r} is not an email address" if address else "give an email address"
        raise InvalidInput(f"address: {message}", [{"field": "address", "message": message}])
    return normalized, suppression.suppress(session, organization_id, normalized, suppression.MANUAL, actor)


def iter_export_rows(database: Database, organization_id: int, chunk: int = 2000) -> Iterator[dict[str, str]]:
    """Every entry, oldest first (`suppression.export_chunk`), each chunk read in its own short
    transaction: a download of a large list never holds one open while the client reads slowly."""
    after: int | None = 0
    while after is not None:
        with database.read() as session:
            rows, after = suppression.export_chunk(session, organization_id, after, chunk)
        yield from rows


# --- the sender warning ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderWarning:
    """Rejections in the last days whose reason is the sender's own DNS or reputation (a 5.7.x about
    SPF, DKIM, DMARC or a blocklist): every later campaign will meet the same wall until it is fixed."""

    count: int
    latest_at: datetime
    latest_address: str
    latest_status: str | None
    latest_diagnostic: str


def sender_warning(
    session: Session, organization_id: int, *, days: int = SENDER_WARNING_DAYS, now: datetime | None = None
) -> SenderWarning | None:
    """The organization's sender warning over the last `days`, or None when there was none."""
    since = (now or utcnow()) - timedelta(days=days)
    recent = (Bounce.organization_id == organization_id, Bounce.sender_warning.is_(True), Bounce.occurred_at >= since)
    latest = session.scalars(
        select(Bounce).where(*recent).order_by(Bounce.occurred_at.desc(), Bounce.id.desc()).limit(1)
    ).first()
    if latest is None:
        return None
    count = int(session.scalar(select(func.count()).select_from(Bounce).where(*recent)) or 0)
    return SenderWarning(
        count=count,
        latest_at=latest.occurred_at,
        latest_address=latest.address,
        latest_status=latest.status,
        latest_diagnostic=(latest.diagnostic or latest.reason or "")[:500],
    )


# --- one campaign ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignDeliverability:
    """A campaign's bounce and complaint figures and, while the reputation guard holds it, why."""

    started: bool  # sending began (delivered_at set): the figures mean something
    guard_reason: str | None  # paused by the guard and not resumed since
    acknowledged_reason: str | None  # a guard pause staff resumed anyway
    attempted: int  # delivered + undelivered: what the hard-bounce rate is of
    delivered: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    suppressed: int
    hard_bounce_limit: float
    complaint_limit: float
    top_reasons: list[tuple[str, str, int]]  # (kind, reason, bounces), most frequent first

    @property
    def hard_bounce_rate(self) -> float:
        return self.hard_bounces / self.attempted if self.attempted else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.delivered if self.delivered else 0.0


def campaign_deliverability(
    session: Session, organization_id: int, campaign_id: int, settings: Settings | None = None
) -> CampaignDeliverability:
    """The campaign's deliverability (another organization's campaign is not found)."""
    settings = settings or get_settings()
    campaign = CampaignRepository(session).get(organization_id, campaign_id)
    stats = session.get(CampaignStats, campaign_id) or CampaignStats()
    reason = campaign.paused_reason or None
    acknowledged = reason is not None and reason.startswith(ACKNOWLEDGED)
    reasons = session.execute(
        select(Bounce.kind, Bounce.reason, func.count())
        .where(Bounce.campaign_id == campaign_id, Bounce.organization_id == organization_id)
        .group_by(Bounce.kind, Bounce.reason)
        .order_by(func.count().desc(), Bounce.kind, Bounce.reason)
        .limit(5)
    )
    return CampaignDeliverability(
        started=campaign.delivered_at is not None,
        guard_reason=reason if reason and not acknowledged and campaign.status == PAUSED else None,
        acknowledged_reason=reason.removeprefix(ACKNOWLEDGED) if reason and acknowledged else None,
        attempted=(stats.delivered or 0) + (stats.undelivered or 0),
        delivered=stats.delivered or 0,
        hard_bounces=stats.hard_bounces or 0,
        soft_bounces=stats.soft_bounces or 0,
        complaints=stats.complaints or 0,
        suppressed=stats.suppressed or 0,
        hard_bounce_limit=settings.guard_hard_bounce_rate,
        complaint_limit=settings.guard_complaint_rate,
        top_reasons=[(str(kind), str(why), int(n)) for kind, why, n in reasons],
    )
