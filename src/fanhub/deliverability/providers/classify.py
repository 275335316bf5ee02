"""The provider's label, checked against the RFC 3463 status code it reports.

Providers label a bounce "permanent" or "temporary" by their own rules, and those labels disagree
with fanhub's classes (issue 19, from the taxonomy in the deliverability notes): a user unknown,
host unknown, mailbox moved or null MX is hard; mailbox full, disabled, policy, reputation and
spam-block rejections (most 5.7.x) are soft, whatever the provider called them. So a bounce starts
from the provider's label and the status code, when it is decisive, has the last word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fanhub.deliverability.reports import BounceKind

# Status code -> reason for the codes that mean the address itself will never work.
_HARD_STATUSES = {
    "5.1.1": "user_unknown",
    "5.1.2": "host_unknown",
    "5.1.3": "bad_address",
    "5.1.6": "mailbox_moved",
    "5.1.10": "null_mx",
    "5.4.4": "host_unknown",  # unable to route: no such domain (SES sometimes calls it Transient)
}
# RFC 7372 / RFC 8601 codes about the sender's own authentication (SPF, DKIM, DMARC, reverse DNS).
_SENDER_AUTH_SUBJECTS = {"7.20", "7.21", "7.22", "7.23", "7.24", "7.25", "7.26", "7.27"}
_SENDER_REPUTATION_WORDS = re.compile(
    r"\b(spf|dkim|dmarc|reverse dns|ptr|reputation|blocklist(ed)?|blacklist(ed)?|spamhaus|rbl|dnsbl|"
    r"sender score|poor reputation|block list|listed)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Classified:
    kind: BounceKind
    reason: str
    sender_warning: bool


def classify_failure(kind: BounceKind, reason: str, status: str | None, diagnostic: str | None) -> Classified:
    """Refine a provider's hard/soft label with the status code (other kinds pass unchanged)."""
    if kind not in ("hard", "soft"):
        return Classified(kind, reason, False)
    warning = sender_warning(status, diagnostic)
    if status is None:
        return Classified(kind, reason, warning)
    if status in _HARD_STATUSES:
        return Classified("hard", _HARD_STATUSES[status], warning)
    status_class, subject, _detail = status.split(".")
    if status_class == "4":
        return Classified("soft", reason, warning)
    if subject == "2":  # mailbox status: full, disabled, too large for it
        return Classified("soft", "mailbox_full" if status == "5.2.2" else reason, warning)
    if subject == "7":  # security or policy: blocked, spam, reputation, account disabled
        return Classified("soft", "policy" if kind == "hard" else reason, warning)
    return Classified(kind, reason, warning)


def sender_warning(status: str | None, diagnostic: str | None) -> bool:
    """A x.7.x rejection about the sender's own DNS or reputation: staff should be told."""
    if status is None or status.split(".")[1] != "7":
        return False
    subject_detail = status.split(".", 1)[1]
    if subject_detail in _SENDER_AUTH_SUBJECTS:
        return True
    return bool(diagnostic and _SENDER_REPUTATION_WORDS.search(diagnostic))
