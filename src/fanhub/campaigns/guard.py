"""The reputation guard: a campaign that is hurting the sender's reputation pauses itself.

Mailbox providers throttle or block senders whose complaint rate passes 0.3% (Gmail and Yahoo's
bulk-sender rules) and providers suspend accounts past a 5-10% bounce rate. Once a campaign has
made `FANHUB_GUARD_MIN_DELIVERIES` (1,000) deliveries, a hard-bounce rate over
`FANHUB_GUARD_HARD_BOUNCE_RATE` (5%) of them, or a complaint rate over
`FANHUB_GUARD_COMPLAINT_RATE` (0.3%) of those delivered, pauses it with the reason written on the
campaign (`paused_reason`), shown in the manager and `fanhub campaigns`. Staff may resume it
(`lifecycle.resume_campaign`): the reason is then prefixed `lifecycle.ACKNOWLEDGED` and the guard does not trip
again for that campaign.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from fanhub.campaigns.models import PAUSED, SENDING, Campaign, CampaignStats
from fanhub.config import Settings
from fanhub.db.base import utcnow


def trip_reason(stats: CampaignStats, settings: Settings) -> str | None:
    """Why the campaign's figures call for a pause, or None."""
    attempted = stats.delivered + stats.undelivered
    if attempted < settings.guard_min_deliveries:
        return None
    hard_rate = stats.hard_bounces / attempted
    if hard_rate > settings.guard_hard_bounce_rate:
        return (
            f"hard-bounce rate {hard_rate:.1%} of {attempted:,} deliveries is over "
            f"{settings.guard_hard_bounce_rate:.1%}: clean the list before resuming"
        )
    complaint_rate = stats.complaints / max(1, stats.delivered)
    if complaint_rate > settings.guard_complaint_rate:
        return (
            f"complaint rate {complaint_rate:.2%} of {stats.delivered:,} delivered is over "
            f"{settings.guard_complaint_rate:.1%}: mailbox providers start blocking at this level"
        )
    return None


def check(session: Session, campaign_id: int, settings: Settings) -> str | None:
    """Pause a sending campaign whose figures trip the guard (once per campaign); returns the reason."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    stats = session.get(CampaignStats, campaign_id)
    if campaign is None or stats is None or campaign.status != SENDING or campaign.paused_reason:
        return None
    reason = trip_reason(stats, settings)
    if reason is not None:
        campaign.status = PAUSED
        campaign.paused_at = utcnow()
        campaign.paused_reason = reason
        session.flush()
    return reason
