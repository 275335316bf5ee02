"""Worker job: read the bounce mailbox (FANHUB_BOUNCE_MAILBOX_URL) every
FANHUB_BOUNCE_MAILBOX_POLL_SECONDS, and catch up on SMTP-time failures a crash left unclassified."""

from __future__ import annotations

import logging
import time

from fanhub.config import get_settings
from fanhub.db.engine import Database
from fanhub.deliverability.apply import catch_up_smtp_failures
from fanhub.deliverability.service import poll_bounce_mailbox

log = logging.getLogger(__name__)
_next_poll = 0.0
_next_catch_up = 0.0
CATCH_UP_SECONDS = 600.0


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
