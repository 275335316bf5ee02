"""The one place that decides whether a source may change a contact's email or SMS subscription.

Used by the Partners API, connectors, CSV import, unsubscribe links and STOP replies alike.

Rules:
- An unsubscribe is always honoured, except a "soft" one (`UNSUBSCRIBE_UNLESS_SUBSCRIBED`: a CSV
  import in "unsubscribe only if not subscribed" mode), which leaves a current subscriber subscribed.
- A subscribe over "unknown" is honoured.
- A subscribe over an opt-out (an explicit "unsubscribed") is honoured only when the source's
  way of asking is an explicit, deliberate opt-in (`ALWAYS` below): a Partners API contact with
  `opt_ins: true`, `/subscribe`, staff, a CSV import in "subscribe everyone" mode, the person
  on their preference center (`preference_center`).
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
- After an erasure (privacy/erase.py) the person's addresses are on the suppression list as keyed
  hashes (reason `erased`), and `may_subscribe_after_erasure()` decides, for every subscription
  to such an address (`AudienceWriter.apply_consent`, the one place that applies consent, asks
  `suppression.erased_since`): re-sent old records never re-subscribe it: an order placed before
  the erasure, a platform sync (`NEVER`), an import in any mode but "subscribe everyone" with its
  confirmation, anything observed before the erasure. A new explicit opt-in made after the erasure
  (`ALWAYS` ways, an order whose box was ticked at a checkout after the erasure, a form and its
  confirmation) subscribes and lifts the hash from the list (`suppression.lift_erased`, audited).

Signup forms (`fanhub.forms`) and the "pending" state:
- A form without double opt-in subscribes at once (`FORM`): an explicit, deliberate opt-in, so it
  may lift a previous opt-out like `/subscribe` does.
- A double opt-in form asks first (`FORM_PENDING`, `ConsentChange.pending`): it sets "pending" only
  over "unknown" or "pending" (a new request renews the old one). It never touches "unsubscribed"
  (an opt-out stays in force until the person confirms) and never downgrades "subscribed".
- The email confirmation (`FORM_CONFIRM`: the person pressed the button of the signed link) makes
  "subscribed": a deliberate opt-in that may lift a previous opt-out.
- An SMS `YES` reply (`SMS_CONFIRM`) subscribes only a number whose SMS state is "pending" (its own
  form request): it never lifts an opt-out and never creates consent out of "unknown", because the
  sender of a text can be forged. Confirming the email never confirms SMS, nor the reverse.
- A pending request not confirmed within `PENDING_DAYS` expires (`FORM_EXPIRED`): the state goes
  back to what the ledger held before the request (`pending_expiry_change`), only while still
  "pending".
- "pending" never receives marketing: campaign segments select "subscribed" only.
- Every change a form makes carries its proof (`ConsentProof`) into the ledger.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from fanhub.audience.models import PENDING, SUBSCRIBED, UNKNOWN, UNSUBSCRIBED

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
    # Subscribes only over "pending" (an SMS YES confirming its own form request).
    CONFIRM_PENDING = "confirm_pending"


SMS_STOP = "sms_stop"
SMS_START = "sms_start"
SMS_CONFIRM = "sms_confirm"
FORM = "form"
FORM_PENDING = "form.pending"
FORM_CONFIRM = "form.confirm"
FORM_EXPIRED = "form.expired"
# How long a double opt-in request waits for its confirmation.
PENDING_DAYS = 7

# How each way of asking for a subscription may treat a previous opt-out.
RESUBSCRIBE_POLICY: dict[str, Resubscribe] = {
    "contact.opt_ins": Resubscribe.ALWAYS,
    "subscribe": Resubscribe.ALWAYS,
    "staff": Resubscribe.ALWAYS,
    "import.subscribe_everyone": Resubscribe.ALWAYS,
    # The person on their own preference page (/p/...), reached from a signed link in an email.
    "preference_center": Resubscribe.ALWAYS,
    FORM: Resubscribe.ALWAYS,
    FORM_CONFIRM: Resubscribe.ALWAYS,
    SMS_CONFIRM: Resubscribe.CONFIRM_PENDING,
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
class ConsentProof:
    """What a signup form showed and where (kept on the ledger entry as proof of consent)."""

    # None when the wording was shown by fanhub itself, not a form (the preference center's SMS box).
    form_id: int | None
    consent_text: str
    page_url: str | None = None
    ip: str | None = None
    user_agent: str | None = None


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
    # A double opt-in request (`FORM_PENDING`): leads to "pending"; `subscribed` is then None.
    pending: bool = False
    proof: ConsentProof | None = None

    @property
    def status(self) -> str:
        """The state the change leads to."""
        if self.pending:
            return PENDING
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


def may_subscribe_after_erasure(change: ConsentChange, erased_at: datetime) -> bool:
    """Whether `change`, a subscription to an address erased at `erased_at`, may subscribe it (and
    so lift its `erased` suppression): only an explicit opt-in observed after the erasure."""
    if change.subscribed is not True:
        return False
    # CONFIRM_PENDING: an SMS YES confirms only a "pending" request, which after an erasure (it ends
    # every subscription and request) only a new form submission can have made.
    if policy_for(change.via) not in (Resubscribe.ALWAYS, Resubscribe.IF_NEWER, Resubscribe.CONFIRM_PENDING):
        return False
    return change.observed_at > erased_at


def pending_expiry_change(
    channel: str, history: Sequence[LedgerEntry], observed_at: datetime, source: str = "form"
) -> ConsentChange | None:
    """The change that ends an unconfirmed request on one channel, or None when the channel is not pending.

    `history` is the channel's ledger, newest first. The state goes back to the latest one before
    the run of "pending" entries; a request is only ever made over "unknown", so that is "unknown"
    (a ledger saying otherwise is left for a person to look at rather than guessed).
    """
    if not history or history[0].status != PENDING:
        return None
    before = next((entry.status for entry in history if entry.status != PENDING), UNKNOWN)
    if before != UNKNOWN:
        return None
    return ConsentChange(channel, None, FORM_EXPIRED, source, observed_at)


def policy_for(via: str) -> Resubscribe:
    if via.startswith("connector"):
        return Resubscribe.NEVER
    return RESUBSCRIBE_POLICY.get(via, Resubscribe.NEVER)


def should_apply(current_status: str, current_status_at: datetime | None, change: ConsentChange) -> bool:
    """Whether `change` moves the contact's state; False also for changes that would be no-ops
    (except a renewed double opt-in request, which records its new proof)."""
    if change.pending:
        return current_status in (UNKNOWN, PENDING)
    if change.subscribed is None:
        if change.via == FORM_EXPIRED:
            return current_status == PENDING
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
    if policy is Resubscribe.CONFIRM_PENDING:
        return current_status == PENDING
    if current_status != UNSUBSCRIBED:
        return policy is not Resubscribe.OWN_STOP
    if policy in (Resubscribe.ALWAYS, Resubscribe.OWN_STOP):
        return True
    if policy is Resubscribe.IF_NEWER:
        return current_status_at is None or change.observed_at > current_status_at
    return False
