"""Worker jobs of the signup forms: send queued double opt-in confirmations (email, then SMS),
mark confirmations a crashed worker left in flight, expire unconfirmed requests."""

from __future__ import annotations

import time

from fanhub.config import get_settings
from fanhub.db.engine import Database
from fanhub.forms import confirmations, service

# How often the expiry and the crash recovery look (a request expires days after it was made).
SWEEP_SECONDS = 300.0
_next_sweep = 0.0


def send_confirmations(database: Database) -> bool:
    """True when a full batch went out (more may be waiting)."""
    settings = get_settings()
    emails = confirmations.send_emails(database, settings)
    texts = confirmations.send_sms(database, settings)
    return emails >= 50 or texts >= 50


def sweep(database: Database) -> bool:
    global _next_sweep
    if time.monotonic() < _next_sweep:
        return False
    _next_sweep = time.monotonic() + SWEEP_SECONDS
    confirmations.recover_stale(database)
    return service.expire_pending(database) > 0
