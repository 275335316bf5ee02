"""The provider's label, checked against what the remote server said (deliverability/classify.py).

Providers label a bounce "permanent" or "temporary" by their own rules, and those labels disagree
with fanhub's classes (issue 19): a user unknown, host unknown, mailbox moved or null MX is hard;
mailbox full, disabled, policy, reputation and spam-block rejections (most 5.7.x) are soft,
whatever the provider called them. So a webhook bounce goes through the same rules as a DSN, and
the provider's label decides only where those rules know nothing precise (no code or words, or a
vague code such as 5.0.0), because then the provider usually knows more than the code says.
"""

from __future__ import annotations

from dataclasses import dataclass

from fanhub.deliverability.classify import SUBJECT_DEFAULTS, UNCLASSIFIED, classify
from fanhub.deliverability.reports import BounceKind

# A code's subject alone is decisive for mailbox status (X.2) and security or policy (X.7).
_DECISIVE_SUBJECTS = {"2", "7"}
_SUBJECT_VERDICTS = frozenset(SUBJECT_DEFAULTS.values())


@dataclass(frozen=True)
class Classified:
    kind: BounceKind
    reason: str
    sender_warning: bool


def classify_failure(kind: BounceKind, reason: str, status: str | None, diagnostic: str | None) -> Classified:
    """Refine a provider's hard/soft label with the status code and words (other kinds pass unchanged)."""
    if kind not in ("hard", "soft"):
        return Classified(kind, reason, False)
    verdict = classify(status, diagnostic)
    subject = status.split(".")[1] if status else None
    vague = verdict == UNCLASSIFIED or (verdict in _SUBJECT_VERDICTS and subject not in _DECISIVE_SUBJECTS)
    if vague:
        return Classified(kind, reason, verdict.sender_warning)
    return Classified(verdict.kind, verdict.reason, verdict.sender_warning)
