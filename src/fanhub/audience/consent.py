"""The one place that decides whether a source may change a contact's email or SMS subscription.

Used by the Partners API, connectors, CSV import, unsubscribe links and STOP replies alike.

Rules:
- An unsubscribe is always honoured, except a "soft" one (`UNSUBSCRIBE_UNLESS_SUBSCRIBED`: a CSV
  import in "unsubscribe only if not subscribed" mode), which leaves a current subscriber subscribed.
- A subscribe over "unknown" is honoured.
- A subscribe over an opt-out (an explicit "unsubscribed") is honoured only when the source's
  way of asking is an explicit, deliberate opt-in (`ALWAYS` below): a Partners API contact with
  `opt_ins: true`, `/subscribe`, staff, a CSV import in "subscribe everyone" mode.
  A checkout opt-in re-subscribes only when the checkout happened after the opt-out (`IF_NEWER`),
  so replaying old orders never undoes an unsubscribe. Platform syncs and "subscribe only if not
  opted out" imports never re-subscribe (`NEVER`).
- A change back to "unknown" (`subscribed=None`) exists to repair an import that subscribed SMS
  without consent (`import.revert`): it applies only to a current subscription, so it never
  undoes an unsubscribe. The one other is an SMS START taking back its own STOP (below).
- An SMS START (`sms_start`, policy `OWN_STOP`) only undoes the STOP that the same phone number
  sent: anyone can put any number in a text's sender (or, without a verified provider webhook, in
  a forged request), so a START must never speak for a number's owner beyond taking back that
  number's own STOP. `sms_start_change()` decides it from the contact's SMS ledger: the latest entry
  must be an `sms_stop` whose `source` is `sms:<the sender's E.164 number>` (`sms_reply_source`),
  and the START restores the state before that STOP: "subscribed" again, or "unknown" when the
  number had never subscribed, so a START never creates consent. An opt-out made any other way
  (unsubscribe link, staff, import, partner) is never lifted by a START.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from fanhub.audience.models import SUBSCRIBED, UNKNOWN, UNSUBSCRIBED

EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)


class Resubscribe(enum.Enum):
    ALWAYS = "always"
    IF_NEWER = "if_newer"
    NEVER = "never"
    # Undoes only the opt-out its own sender made (`sms_start_change` checks the ledger) and never
    # subscribes over "unknown".
    OWN_STOP = "own_stop"


SMS_STOP = "sms_stop"
SMS_START = "sms_start"

# How each way of asking for a subscription may treat a previous opt-out.
RESUBSCRIBE_POLICY: dict[str, Resubscribe] = {
    "contact.opt_ins": Resubscribe.ALWAYS,
    "subscribe": Resubscribe.ALWAYS,
    "staff": Resubscribe.ALWAYS,
    "import.subscribe_everyone": Resubscribe.ALWAYS,
    SMS_START: Resubscribe.OWN_STOP,
    "order.marketing_opt_ins": Resubscribe.IF_NEWER,
    "import.subscribe_if_not_opted_out": Resubscribe.NEVER,
    "connector": Resubscribe.NEVER,
}

# Ways of unsubscribing that never override a current subscription (they only settle "unknown").
UNSUBSCRIBE_UNLESS_SUBSCRIBED = frozenset({"import.unsubscribe_if_not_subscribed"})

# The one way back to "unknown": reverting an import's SMS subscription.
IMPORT_REVERT = "import.revert"


@dataclass(frozen=True)
class ConsentChange:
    channel: str
    # True subscribes, False unsubscribes, None returns to "unknown" (only `IMPORT_REVERT`).
    subscribed: bool | None
    via: str
    source: str
    observed_at: datetime
    raw_value: str | None = None
    # The person who confirmed the change when one did ("staff:3"), kept in the ledger.
    actor: str | None = None

    @property
    def status(self) -> str:
        """The state the change leads to."""
        if self.subscribed is None:
            return UNKNOWN
        return SUBSCRIBED if self.subscribed else UNSUBSCRIBED


class LedgerEntry(NamedTuple):
    """The parts of a `ConsentEvent` that the SMS START rule reads."""

    status: str
    via: str
    source: str


def sms_reply_source(phone: str) -> str:
    """Ledger `source` of a STOP/START reply: the E.164 number it came from, so a START can tell
    whether the opt-out it would lift is that number's own STOP."""
    return f"sms:{phone}"


def sms_start_change(
    phone: str, history: Sequence[LedgerEntry], observed_at: datetime, raw_value: str | None = None
) -> ConsentChange | None:
    """The change a START from `phone` makes to one contact, or None when it may change nothing.

    `history` is the contact's SMS ledger, newest first (the latest two entries suffice). Only the
    number's own STOP, still in force, is undone, back to the state it replaced.
    """
    if not history:
        return None
    latest = history[0]
    if latest.status != UNSUBSCRIBED or latest.via != SMS_STOP or latest.source != sms_reply_source(phone):
        return None
    before = history[1].status if len(history) > 1 else UNKNOWN
    if before == UNSUBSCRIBED:
        return None  # the STOP found an opt-out already in force: it is not the STOP's to lift
    subscribed = True if before == SUBSCRIBED else None
    return ConsentChange(SMS, subscribed, SMS_START, sms_reply_source(phone), observed_at, raw_value)


def policy_for(via: str) -> Resubscribe:
    if via.startswith("connector"):
        return Resubscribe.NEVER
    return RESUBSCRIBE_POLICY.get(via, Resubscribe.NEVER)


def should_apply(current_status: str, current_status_at: datetime | None, change: ConsentChange) -> bool:
    """Whether `change` moves the contact's state; False also for changes that would be no-ops."""
    if change.subscribed is None:
        if change.via == SMS_START:  # a START taking back its own STOP of a never-subscribed number
            return current_status == UNSUBSCRIBED
        return change.via == IMPORT_REVERT and current_status == SUBSCRIBED
    if not change.subscribed:
        if change.via in UNSUBSCRIBE_UNLESS_SUBSCRIBED and current_status == SUBSCRIBED:
            return False
        return current_status != UNSUBSCRIBED
    if current_status == SUBSCRIBED:
        return False
    policy = policy_for(change.via)
    if current_status != UNSUBSCRIBED:
        return policy is not Resubscribe.OWN_STOP
    if policy in (Resubscribe.ALWAYS, Resubscribe.OWN_STOP):
        return True
    if policy is Resubscribe.IF_NEWER:
        return current_status_at is None or change.observed_at > current_status_at
    return False
