"""What the worker runs: start campaigns whose time has come, and give each sending campaign's pipe
its turn; `run_campaign` drives one campaign to the end in this process (CLI --wait, benchmarks).

Only `scheduled` campaigns start and only `sending` ones get turns: a `paused` campaign waits for
its resume, a `cancelled` one (or one cancelled back to draft) is never taken again, and
`run_campaign` returns as soon as its campaign is no longer sending (campaigns/lifecycle.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.audience.segments import count_segment
from fanhub.campaigns.models import SCHEDULED, SENDING, Campaign, CampaignStats
from fanhub.campaigns.sending import deliveries
from fanhub.campaigns.sending.pipe import Transports, new_lanes, send_slice
from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database


def start_sending(session: Session, campaign: Campaign) -> int:
    """Fix the recipient list (one pending delivery per subscribed contact in the segment); returns its size."""
    if campaign.status != SCHEDULED:
        return 0
    count = deliveries.create_deliveries(session, campaign)
    suppressed = count_segment(session, campaign.organization_id, campaign.audience, campaign.type, suppressed=True)
    now = utcnow()
    campaign.status = SENDING
    # delivered_at: when the campaign went out (its first message), as the analytics list it.
    campaign.delivered_at = now
    stats = session.get(CampaignStats, campaign.id)
    if stats is None:
        stats = CampaignStats(campaign_id=campaign.id, organization_id=campaign.organization_id)
        session.add(stats)
    stats.recipients = count
    stats.suppressed = suppressed
    stats.started_at = now
    session.flush()
    return count


def start_due(session: Session, now: Any = None) -> list[int]:
    """Start every scheduled campaign whose time has come; returns their ids."""
    now = now or utcnow()
    due = session.scalars(
        select(Campaign)
        .where(Campaign.status == SCHEDULED, Campaign.scheduled_at <= now)
        .order_by(Campaign.scheduled_at, Campaign.id)
        .limit(10)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in due:
        start_sending(session, campaign)
    return [c.id for c in due]


# Campaigns take turns, one slice each, so a 100,000-recipient send does not hold up a small one.
_turn = 0


def send_turn(database: Database) -> bool:
    """One slice of the next sending campaign in turn; True while there was work (something sent
    or a campaign finished). A stopped slice (provider down) waits for the worker's next poll."""
    global _turn
    with database.read() as session:
        # A flow's step campaigns get their turns from flows.jobs.send_steps.
        sending = select(Campaign.id).where(Campaign.status == SENDING, Campaign.flow_id.is_(None))
        ids = list(session.scalars(sending.order_by(Campaign.id)))
    if not ids:
        return False
    campaign_id = ids[_turn % len(ids)]
    _turn += 1
    result = send_slice(database, campaign_id)
    return result.finished or (result.reserved > 0 and result.stopped is None)


def run_campaign(
    database: Database,
    campaign_id: int,
    *,
    transports: Transports | None = None,
    settings: Settings | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_idle_rounds: int = 50,
) -> dict[str, int]:
    """Start (if due) and send a campaign to completion in this process; returns its counters."""
    with database.write() as session:
        campaign = session.get(Campaign, campaign_id)
        if (
            campaign is not None
            and campaign.status == SCHEDULED
            and (campaign.scheduled_at is None or campaign.scheduled_at <= utcnow())
        ):
            start_sending(session, campaign)
    own = transports is None
    # Connections stay open from slice to slice.
    lanes = [transports] if transports is not None else new_lanes(settings or get_settings())
    idle = 0
    try:
        while True:
            outcome = send_slice(database, campaign_id, transports=lanes, settings=settings, batch_size=batch_size)
            if outcome.finished or (outcome.reserved == 0 and outcome.deferred):
                break  # done, or only deferred recipients left, each with its retry scheduled
            if progress is not None:
                with database.read() as session:
                    done, total = deliveries.progress(session, campaign_id)
                progress(done, total)
            if outcome.stopped or outcome.reserved == 0:
                idle += 1
                if idle > max_idle_rounds:
                    break
                time.sleep(min(5.0, 0.1 * idle))
            else:
                idle = 0
    finally:
        if own:
            for lane in lanes:
                lane.close()
    return _counters(database, campaign_id, progress)


def _counters(database: Database, campaign_id: int, progress: Callable[[int, int], None] | None) -> dict[str, int]:
    with database.read() as session:
        stats = session.get(CampaignStats, campaign_id)
        done, total = deliveries.progress(session, campaign_id)
        if progress is not None:
            progress(done, total)
        return {
            "recipients": stats.recipients if stats else 0,
            "delivered": stats.delivered if stats else 0,
            "undelivered": stats.undelivered if stats else 0,
            "skipped": stats.skipped if stats else 0,
            "unknown": stats.unknown if stats else 0,
            "suppressed": stats.suppressed if stats else 0,
            "deferred": deliveries.deferred(session, campaign_id),
        }
