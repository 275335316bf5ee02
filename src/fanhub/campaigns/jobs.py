"""Worker jobs: start scheduled campaigns when due, and send the next slice of a sending campaign."""

from __future__ import annotations

import logging

from sqlalchemy import select

from fanhub.campaigns.models import SENDING, Campaign
from fanhub.campaigns.sending import send_slice, start_due
from fanhub.db.engine import Database
from fanhub.worker import job

log = logging.getLogger(__name__)

# Campaigns take turns, one slice each, so a 100,000-recipient send does not hold up a small one.
_turn = 0


@job("campaigns.start_due")
def start_due_campaigns(database: Database) -> bool:
    with database.write() as session:
        started = start_due(session)
    if started:
        log.info("started campaigns %s", started)
    return bool(started)


@job("campaigns.send")
def send_next_slice(database: Database) -> bool:
    global _turn
    with database.read() as session:
        ids = list(session.scalars(select(Campaign.id).where(Campaign.status == SENDING).order_by(Campaign.id)))
    if not ids:
        return False
    campaign_id = ids[_turn % len(ids)]
    _turn += 1
    result = send_slice(database, campaign_id)
    # Busy while it sent something or finished; a stopped slice (provider down) waits for the next poll.
    return result.finished or (result.reserved > 0 and result.stopped is None)
