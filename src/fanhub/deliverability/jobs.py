"""Worker jobs: read the bounce mailbox (FANHUB_BOUNCE_MAILBOX_URL) every
FANHUB_BOUNCE_MAILBOX_POLL_SECONDS, catch up on SMTP-time failures a crash left unclassified, keep
the engagement ratings current (deliverability/engagement.py) and sunset unengaged subscribers
where an organization turned it on (deliverability/sunset.py)."""

from __future__ import annotations

import logging
import time

from fanhub.config import get_settings
from fanhub.db.engine import Database
from fanhub.deliverability import engagement, sunset
from fanhub.deliverability.apply import catch_up_smtp_failures
from fanhub.deliverability.service import poll_bounce_mailbox

log = logging.getLogger(__name__)
_next_poll = 0.0
_next_catch_up = 0.0
CATCH_UP_SECONDS = 600.0
_next_engagement = 0.0
_next_sunset = 0.0
# New opens, clicks, orders and deliveries are rated within this long; a full batch comes back at once.
ENGAGEMENT_SECONDS = 30.0
# The daily sweep and the sunset pass check this often whether their day is up.
SUNSET_SECONDS = 300.0
ENGAGEMENT_BATCH = 2000


def catch_up(database: Database) -> bool:
    global _next_catch_up
    if time.monotonic() < _next_catch_up:
        return False
    _next_catch_up = time.monotonic() + CATCH_UP_SECONDS
    return catch_up_smtp_failures(database) > 0


def poll_mailbox(database: Database) -> bool:
    """True when messages were read (more may be waiting)."""
    global _next_poll
    settings = get_settings()
    if not settings.bounce_mailbox_url or time.monotonic() < _next_poll:
        return False
    _next_poll = time.monotonic() + settings.bounce_mailbox_poll_seconds
    try:
        read = poll_bounce_mailbox(database, settings)
    except Exception as error:  # an unreachable mailbox must not stop the worker's other jobs
        log.warning("bounce mailbox poll failed: %s", error)
        return False
    if read:
        _next_poll = 0.0  # a full batch: come back at once
    return read > 0


def engagement_ratings(database: Database) -> bool:
    """Rate the contacts named by new events, then a step of the daily sweep; True when a batch was
    full (more waiting)."""
    global _next_engagement
    if time.monotonic() < _next_engagement:
        return False
    _next_engagement = time.monotonic() + ENGAGEMENT_SECONDS
    read = engagement.recompute_changes(database, limit=ENGAGEMENT_BATCH)
    swept = engagement.sweep_step(database, limit=ENGAGEMENT_BATCH)
    more = max(read.values()) >= ENGAGEMENT_BATCH or swept >= ENGAGEMENT_BATCH
    if more:
        _next_engagement = 0.0
    return more


def sunset_unengaged(database: Database) -> bool:
    """A step of the daily sunset pass over the organizations that turned it on."""
    global _next_sunset
    if time.monotonic() < _next_sunset:
        return False
    _next_sunset = time.monotonic() + SUNSET_SECONDS
    step = sunset.sunset_step(database)
    if step["read"] >= sunset.BATCH:
        _next_sunset = 0.0
        return True
    return False
