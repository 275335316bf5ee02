"""Worker jobs of automations: enroll from the scanned triggers, advance due enrollments, and give
the flows' step campaigns their turns in the sending pipe (each job one bounded unit of work)."""

from __future__ import annotations

import logging
from datetime import datetime

from fanhub.campaigns.sending.pipe import send_slice
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.flows import engine, messages, triggers

log = logging.getLogger(__name__)


def scan_triggers(database: Database, now: datetime | None = None) -> bool:
    """Event moments, announcements and new subscriptions enroll; moved or cancelled events move
    or cancel their pending steps."""
    now = now or utcnow()
    with database.write() as session:
        changed = triggers.reconcile_events(session, now)
        enrolled = triggers.scan_event_moments(session, now)
        enrolled += triggers.scan_announcements(session, now)
        enrolled += triggers.scan_subscriptions(session, now)
    if enrolled or changed:
        log.info("flows: %s enrollments offered, %s moved or cancelled", enrolled, changed)
    return bool(enrolled or changed)


def advance_enrollments(database: Database, now: datetime | None = None) -> bool:
    """One batch of due steps."""
    return engine.advance(database, now or utcnow()) > 0


# Step campaigns take turns, one slice each, like campaigns (campaigns/sending/scheduler.py).
_turn = 0


def send_steps(database: Database) -> bool:
    """One slice of the next step campaign with messages waiting; True while there was work."""
    global _turn
    with database.read() as session:
        ids = messages.sending_step_campaigns(session)
    if not ids:
        return False
    campaign_id = ids[_turn % len(ids)]
    _turn += 1
    result = send_slice(database, campaign_id)
    return result.reserved > 0 and result.stopped is None


def run_all(database: Database, now: datetime | None = None) -> bool:
    """Every flows job once (tests and `fanhub flow run`)."""
    found = scan_triggers(database, now)
    found = advance_enrollments(database, now) or found
    return send_steps(database) or found
