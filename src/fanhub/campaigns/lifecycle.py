"""The campaign lifecycle: which action each state allows, and the state changes of a send.

```
 draft ──schedule──► scheduled ──(due: the worker starts it)──► sending ──(nobody left)──► sent
   ▲                     │                                      │    ▲
   └────────cancel───────┘                                 pause │    │ resume
                                                                 ▼    │
                                                                 paused
 sending, paused ──cancel──► cancelled
```

The rules, for every front door (manager, CLI, MCP, Partners API):

- **A draft is the only campaign that changes.** Edit (name, subject, body, audience, event) and
  delete apply to drafts only. A scheduled campaign is cancelled back to a draft first.
- **Once sending started, nothing changes but pause, resume and cancel.** The recipient list was
  fixed when sending began (one delivery per recipient), and every message sent so far was
  rendered from the content as it is; editing it now would make the report describe a message
  nobody received.
- **Schedule** (or send now) applies to a draft, or moves a scheduled campaign's time.
- **Cancel** of a scheduled campaign returns it to draft; nothing was sent. Cancel of a sending or
  paused campaign makes it `cancelled`, a final state: from the moment the cancel is committed the
  pipe hands no further message to a provider (the slice in progress notices within
  `sending.pipe.STATUS_CHECK_SECONDS`; a message already in a provider's hands, at most one per
  connection, completes). Recipients not reached keep a `pending` delivery that is never sent.
- **Pause** applies to a sending campaign: the worker takes no new slice, and the slice in
  progress hands its unsent recipients back (to `pending`) within `STATUS_CHECK_SECONDS`.
  **Resume** makes it `sending` again; the pipe only ever takes `pending` deliveries, and a
  delivery that was handed to a provider is never pending again, so nobody receives it twice.
- **Duplicate** works in every state and makes a new draft with the same content.
- **Test sends** (to addresses staff choose) are for email drafts and scheduled campaigns; an
  address whose contact unsubscribed is refused, as for every send.

Every refusal is an `InvalidInput` on the field `status` whose message says what the campaign is
and what can be done instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from fanhub.campaigns.models import CANCELLED, DRAFT, PAUSED, SCHEDULED, SENDING, SENT, Campaign, CampaignStats
from fanhub.campaigns.repository import CampaignRepository
from fanhub.campaigns.schemas import CampaignProgress
from fanhub.db.base import utcnow
from fanhub.errors import InvalidInput, NotFound
from fanhub.timeutil import iso_utc

STATUSES = (DRAFT, SCHEDULED, SENDING, PAUSED, SENT, CANCELLED)
STARTED = (SENDING, PAUSED, SENT, CANCELLED)

# action -> the states it applies to
ALLOWED: dict[str, tuple[str, ...]] = {
    "edit": (DRAFT,),
    "delete": (DRAFT,),
    "schedule": (DRAFT, SCHEDULED),
    "send_test": (DRAFT, SCHEDULED),
    "cancel": (SCHEDULED, SENDING, PAUSED),
    "pause": (SENDING,),
    "resume": (PAUSED,),
    "duplicate": STATUSES,
}


def allowed_actions(status: str) -> list[str]:
    """The actions a campaign in `status` allows, in `ALLOWED`'s order."""
    return [name for name, states in ALLOWED.items() if status in states]


def refusal(campaign_id: int, status: str, action: str) -> str | None:
    """Why `action` does not apply to a campaign in `status` (None when it does)."""
    if status in ALLOWED[action]:
        return None
    what = f"Campaign {campaign_id} is {'a draft' if status == DRAFT else status}"
    if status == action_result(action):
        return f"Campaign {campaign_id} is already {status}; nothing was changed."
    if action in ("edit", "delete") and status == SCHEDULED:
        return f"{what}; cancel the scheduled send to {action} it."
    if action in ("edit", "delete", "schedule", "send_test") and status in STARTED:
        if action == "schedule":
            return f"campaign {campaign_id} is already {status}; nothing was changed."
        return f"{what}; once sending started only pause, resume and cancel are possible."
    if action == "cancel":
        left = "there is no send to cancel" if status == DRAFT else "there is nothing left to cancel"
        return f"{what}; {left}."
    if action == "pause" and status == SCHEDULED:
        return f"{what}, not sending yet; cancel the scheduled send instead."
    if action == "pause":
        return f"{what}; only a sending campaign can be paused."
    return f"{what}; only a paused campaign can be resumed."


def action_result(action: str) -> str | None:
    """The state an action leads to when it is the same whatever the start (for "already" messages)."""
    return {"pause": PAUSED, "resume": SENDING, "schedule": SCHEDULED}.get(action)


def require(campaign: Campaign, action: str) -> None:
    """Raise `InvalidInput` (field `status`) when `action` does not apply to the campaign's state."""
    message = refusal(campaign.id, campaign.status, action)
    if message is not None:
        raise InvalidInput(message, [{"index": None, "field": "status", "message": message}])


def locked(session: Session, organization_id: int, campaign_id: int) -> Campaign:
    """The campaign, its row locked for this transaction (PostgreSQL; SQLite writes are serialised),
    so a state change cannot cross the worker starting or finishing it."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
    if campaign is None or campaign.organization_id != organization_id:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def _stats(session: Session, campaign: Campaign) -> CampaignStats:
    stats = session.get(CampaignStats, campaign.id)
    if stats is None:
        stats = CampaignStats(campaign_id=campaign.id, organization_id=campaign.organization_id)
        session.add(stats)
    return stats


def _end_pause(stats: CampaignStats, campaign: Campaign, now: datetime) -> None:
    if campaign.paused_at is not None:
        stats.paused_seconds = (stats.paused_seconds or 0) + max(0, int((now - campaign.paused_at).total_seconds()))
        campaign.paused_at = None


def pause_campaign(session: Session, organization_id: int, campaign_id: int) -> Campaign:
    """Stop a sending campaign taking new slices (see the module docstring)."""
    campaign = locked(session, organization_id, campaign_id)
    require(campaign, "pause")
    campaign.status = PAUSED
    campaign.paused_at = utcnow()
    session.flush()
    return campaign


ACKNOWLEDGED = "acknowledged: "  # campaigns/guard.py: a guard pause staff resumed


def resume_campaign(session: Session, organization_id: int, campaign_id: int) -> Campaign:
    """Let a paused campaign send again; only recipients not yet attempted are sent to."""
    campaign = locked(session, organization_id, campaign_id)
    require(campaign, "resume")
    _end_pause(_stats(session, campaign), campaign, utcnow())
    if campaign.paused_reason and not campaign.paused_reason.startswith(ACKNOWLEDGED):
        campaign.paused_reason = ACKNOWLEDGED + campaign.paused_reason  # staff overrode the guard
    campaign.status = SENDING
    session.flush()
    return campaign


def cancel_campaign(session: Session, organization_id: int, campaign_id: int) -> Campaign:
    """A scheduled campaign goes back to draft; a sending or paused one is cancelled for good."""
    from fanhub.campaigns.sending import deliveries  # the sending package imports the campaign service

    campaign = locked(session, organization_id, campaign_id)
    require(campaign, "cancel")
    if campaign.status == SCHEDULED:
        campaign.status = DRAFT
        campaign.scheduled_at = None
        session.flush()
        return campaign
    now = utcnow()
    stats = _stats(session, campaign)
    _end_pause(stats, campaign, now)
    campaign.status = CANCELLED
    campaign.cancelled_at = now
    stats.finished_at = now
    stats.delivered = deliveries.delivered(session, campaign.id)
    session.flush()
    return campaign


# --- a send's progress ---------------------------------------------------------------------------


def _active_seconds(campaign: Campaign, stats: CampaignStats, now: datetime) -> float:
    """Seconds spent sending: from the start to the end (or now), pauses left out."""
    if stats.started_at is None:
        return 0.0
    end = stats.finished_at or now
    paused = float(stats.paused_seconds or 0)
    if campaign.paused_at is not None:
        paused += max(0.0, (end - campaign.paused_at).total_seconds())
    return max(0.0, (end - stats.started_at).total_seconds() - paused)


def campaign_progress(session: Session, organization_id: int, campaign_id: int) -> CampaignProgress:
    """Sent / total, the rate while sending, and the estimated finish (see `CampaignProgress`)."""
    from fanhub.campaigns.sending import deliveries  # the sending package imports the campaign service

    campaign = CampaignRepository(session).get(organization_id, campaign_id)
    stats = session.get(CampaignStats, campaign_id) or CampaignStats(
        campaign_id=campaign_id, organization_id=organization_id
    )
    settled, total = deliveries.progress(session, campaign_id)
    sent = deliveries.delivered(session, campaign_id)
    now = utcnow()
    active = _active_seconds(campaign, stats, now)
    rate = settled / active if active >= 1 and settled else None
    remaining = total - settled
    eta = int(remaining / rate) if rate and campaign.status == SENDING else None
    percent = int(100 * settled / total) if total else (100 if campaign.status == SENT else 0)
    text = f"{sent:,} of {total:,} sent"
    if rate:
        text += f" · {rate:,.1f} per second"
    if eta is not None and remaining:
        text += f" · about {_duration(eta)} left"
    if campaign.status == PAUSED:
        text += " · paused"
    elif campaign.status == CANCELLED:
        text += f" · cancelled, {remaining:,} not sent"
    return CampaignProgress(
        campaign_id=campaign_id,
        status=campaign.status,
        total=total,
        settled=settled,
        sent=sent,
        undelivered=stats.undelivered or 0,
        skipped=stats.skipped or 0,
        unknown=stats.unknown or 0,
        remaining=remaining,
        percent=percent,
        per_second=round(rate, 2) if rate else None,
        eta_seconds=eta,
        estimated_finish=iso_utc(now + timedelta(seconds=eta)) if eta is not None else None,
        started_at=iso_utc(stats.started_at),
        paused_at=iso_utc(campaign.paused_at),
        finished_at=iso_utc(stats.finished_at),
        actions=allowed_actions(campaign.status),
        text=text,
    )


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
