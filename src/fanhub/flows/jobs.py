"""Worker jobs of automations: enroll from the scanned triggers, advance due enrollments, and give
the flows' step campaigns their turns in the sending pipe (each job one bounded unit of work)."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from fanhub.campaigns.sending.pipe import Transports, new_lanes, send_slice
from fanhub.config import Settings, get_settings
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

# Provider connections kept from one step slice to the next while messages keep coming, as
# `run_campaign` keeps them from slice to slice: a flow sends many small slices, and opening two
# SMTP connections (and their EHLO, STARTTLS, AUTH) for every 200 messages cost the flow a quarter
# of its rate. They are closed when no step campaign has messages waiting, and replaced when
# unused for IDLE_SECONDS, far inside an SMTP server's idle timeout (RFC 5321: 5 minutes): a
# connection the server dropped would fail its next message as `unknown`, never resent.
IDLE_SECONDS = 15.0


class _KeptLanes:
    def __init__(self) -> None:
        self.lanes: list[Transports] = []
        self.settings: Settings | None = None
        self.used_at = 0.0

    def take(self, settings: Settings) -> list[Transports]:
        """Open lanes for `settings` (new ones when the settings changed or the lanes sat idle)."""
        if self.settings is not settings or time.monotonic() - self.used_at > IDLE_SECONDS:
            self.close()
            self.lanes, self.settings = new_lanes(settings), settings
        return self.lanes

    def touch(self) -> None:
        self.used_at = time.monotonic()

    def close(self) -> None:
        for lane in self.lanes:
            lane.close()
        self.lanes, self.settings = [], None


_kept = _KeptLanes()


def send_steps(database: Database) -> bool:
    """One slice of the next step campaign with messages waiting; True while there was work."""
    global _turn
    with database.read() as session:
        ids = messages.sending_step_campaigns(session)
    if not ids:
        _kept.close()
        return False
    campaign_id = ids[_turn % len(ids)]
    _turn += 1
    settings = get_settings()
    try:
        result = send_slice(database, campaign_id, transports=_kept.take(settings), settings=settings)
    except BaseException:
        _kept.close()
        raise
    _kept.touch()
    if result.stopped is not None:
        _kept.close()  # the provider is down or throttling: the next slice starts afresh
    return result.reserved > 0 and result.stopped is None


def run_all(database: Database, now: datetime | None = None) -> bool:
    """Every flows job once (tests and `fanhub flow run`)."""
    found = scan_triggers(database, now)
    found = advance_enrollments(database, now) or found
    return send_steps(database) or found
