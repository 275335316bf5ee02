"""The one place that decides whether a source may change a contact's email or SMS subscription.

Used by the Partners API, connectors, CSV import, unsubscribe links and STOP replies alike.

Rules:
- An unsubscribe is always honoured, except a "soft" one (`UNSUBSCRIBE_UNLESS_SUBSCRIBED`: a CSV
  import in "unsubscribe only if not subscribed" mode), which leaves a current subscriber subscribed.
- A subscribe over "unknown" is honoured.
- A subscribe over an opt-out (an explicit "unsubscribed") is honoured only when the source's
  way of asking is an explicit, deliberate opt-in (`ALWAYS` below): a Partners API contact with
  `opt_ins: true`, `/subscribe`, staff, a CSV import in "subscribe everyone" mode, an SMS START.
  A checkout opt-in re-subscribes only when the checkout happened after the opt-out (`IF_NEWER`),
  so replaying old orders never undoes an unsubscribe. Platform syncs and "subscribe only if not
  opted out" imports never re-subscribe (`NEVER`).
- A change back to "unknown" (`subscribed=None`) exists only to repair an import that subscribed
  SMS without consent (`import.revert`): it applies only to a current subscription, so it never
  undoes an unsubscribe.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from fanhub.audience.models import SUBSCRIBED, UNKNOWN, UNSUBSCRIBED

EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)


class Resubscribe(enum.Enum):
    ALWAYS = "always"
    IF_NEWER = "if_newer"
    NEVER = "never"


# How each way of asking for a subscription may treat a previous opt-out.
RESUBSCRIBE_POLICY: dict[str, Resubscribe] = {
    "contact.opt_ins": Resubscribe.ALWAYS,
    "subscribe": Resubscribe.ALWAYS,
    "staff": Resubscribe.ALWAYS,
    "import.subscribe_everyone": Resubscribe.ALWAYS,
    "sms_start": Resubscribe.ALWAYS,
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


def policy_for(via: str) -> Resubscribe:
    if via.startswith("connector"):
        return Resubscribe.NEVER
    return RESUBSCRIBE_POLICY.get(via, Resubscribe.NEVER)


def should_apply(current_status: str, current_status_at: datetime | None, change: ConsentChange) -> bool:
    """Whether `change` moves the contact's state; False also for changes that would be no-ops."""
    if change.subscribed is None:
        return change.via == IMPORT_REVERT and current_status == SUBSCRIBED
    if not change.subscribed:
        if change.via in UNSUBSCRIBE_UNLESS_SUBSCRIBED and current_status == SUBSCRIBED:
            return False
        return current_status != UNSUBSCRIBED
    if current_status == SUBSCRIBED:
        return False
    if current_status != UNSUBSCRIBED:
        return True
    policy = policy_for(change.via)
    if policy is Resubscribe.ALWAYS:
        return True
    if policy is Resubscribe.IF_NEWER:
        return current_status_at is None or change.observed_at > current_status_at
    return False
