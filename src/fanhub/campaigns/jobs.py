"""Worker jobs: start scheduled campaigns when due, and send the next slice of a sending campaign."""

from __future__ import annotations

import logging

from fanhub.campaigns.sending.scheduler import send_turn, start_due
from fanhub.db.engine import Database

log = logging.getLogger(__name__)


def start_due_campaigns(database: Database) -> bool:
    with database.write() as session:
        started = start_due(session)
    if started:
        log.info("started campaigns %s", started)
    return bool(started)


def send_next_slice(database: Database) -> bool:
    return send_turn(database)
