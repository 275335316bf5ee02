"""What every bounce route reports: one `BounceReport` per failed recipient (the shared vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# hard: the address will not work (user or host unknown, mailbox moved, null MX): suppress at once.
# soft: a temporary or policy failure (full, disabled, blocked): suppress after the soft limit.
# complaint: the recipient reported the mail as spam (ARF/JMRP, provider complaint event).
# ignored: auto-replies, delivery successes, ordinary mail.
BounceKind = Literal["hard", "soft", "complaint", "ignored"]


@dataclass(frozen=True)
class BounceReport:
    kind: BounceKind
    reason: str  # a short label: "user_unknown", "mailbox_full", "abuse", "auto_reply", "not_a_bounce", ...
    recipient: str | None = None  # the failed recipient as the report names it (lowercased)
    status: str | None = None  # RFC 3463 enhanced status code, "5.1.1"
    diagnostic: str | None = None  # the remote server's words, trimmed to 500 characters
    verp_token: str | None = None  # the part after '+' in the envelope-sender address it came back to
    message_id: str | None = None  # the Message-ID of the original message, without angle brackets
    delivery_ref: str | None = None  # fanhub's delivery token echoed by a provider's metadata
    source: str = "dsn"  # dsn | arf | heuristic:<mta> | ses | sendgrid | mailgun | postmark
    event_id: str | None = None  # a provider's own event id (replay protection)
    occurred_at: datetime | None = None
    # A 5.7.x rejection about the sender's own DNS or reputation: staff should be warned.
    sender_warning: bool = False
