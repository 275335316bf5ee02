"""The reputation guard: past 5% hard bounces or 0.3% complaints after 1,000 deliveries a sending
campaign pauses itself with the reason; resumed by staff, it does not trip again."""

from __future__ import annotations

import pytest

from fanhub.campaigns import guard
from fanhub.campaigns.lifecycle import ACKNOWLEDGED, resume_campaign
from fanhub.campaigns.models import Campaign, CampaignStats
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.conftest import Tenant


def _sending(db: Database, org: int, **stats: int) -> int:
    with db.write() as session:
        campaign = Campaign(organization_id=org, type="email", name="Big", subject="Big", body="x", status="sending")
        session.add(campaign)
        session.flush()
        session.add(CampaignStats(campaign_id=campaign.id, organization_id=org, **stats))
        return campaign.id


def _check(db: Database, campaign_id: int) -> tuple[str | None, str, str | None]:
    with db.write() as session:
        reason = guard.check(session, campaign_id, Settings())
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return reason, campaign.status, campaign.paused_reason


@pytest.mark.parametrize(
    ("stats", "trips"),
    [
        ({"delivered": 900, "undelivered": 50, "hard_bounces": 50}, None),  # 950 attempted: too early
        ({"delivered": 950, "undelivered": 50, "hard_bounces": 50}, None),  # exactly 5.0%: not over
        ({"delivered": 940, "undelivered": 60, "hard_bounces": 60}, "hard-bounce rate 6.0% of 1,000"),
        ({"delivered": 1000, "complaints": 3}, None),  # 0.30%: not over
        ({"delivered": 1000, "complaints": 4}, "complaint rate 0.40% of 1,000"),
    ],
)
def test_the_guard_trips_only_past_its_limits(
    db: Database, tenant: Tenant, stats: dict[str, int], trips: str | None
) -> None:
    campaign_id = _sending(db, tenant.organization_id, **stats)
    reason, status, stored = _check(db, campaign_id)
    if trips is None:
        assert (reason, status, stored) == (None, "sending", None)
    else:
        assert reason is not None and reason.startswith(trips)
        assert (status, stored) == ("paused", reason)


def test_resumed_by_staff_it_does_not_trip_again(db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    campaign_id = _sending(db, org, delivered=940, undelivered=60, hard_bounces=60)
    reason, _, _ = _check(db, campaign_id)
    assert reason is not None
    with db.write() as session:
        resume_campaign(session, org, campaign_id)
    assert _check(db, campaign_id) == (None, "sending", ACKNOWLEDGED + reason)
