"""Classify one failed recipient: (enhanced status code, the remote server's words) -> hard/soft, reason, warning.

The rules are data, in three tables read top to bottom (the first match wins):

1. `TEXT_RULES`: the remote server's wording (each rule names where real servers are seen saying it).
   A rule marked `overrides` decides whatever the code says: sender-side wording (our own
   SPF/DKIM/DMARC, our IP on a block list, our reputation), because a rejection about us must never
   suppress the recipient (notes §7, Mautic #9222), and the documented cases of a server sending a
   misleading code. Any other rule decides only when the code is absent or vague (X.0.0, X.1.0,
   X.5.0, X.7.0, X.7.1, a bare "550"): a precise code beats generic words, so
   "550 5.1.1 Requested action not taken: mailbox unavailable" stays a dead address.
2. `STATUS_RULES`: RFC 3463 enhanced status codes and later registry entries, by class-free code
   ("X.1.1"; 5.1.10 is listed exactly because only its class 5 means null MX).
3. `SUBJECT_DEFAULTS`: the code's subject ("X.7") when nothing more precise is known.

Hard is kept for dead addresses only (user unknown, host unknown, moved, null MX, bad syntax), as
the issue decided and as sisimai's `hardbounce` does (notes §1.6); everything else is soft and only
suppresses after the soft limit. A class 4 code is always soft, even with dead-address wording
(a final DSN with Action: failed and 4.x.x means the retries ran out, not that the address is dead).
A failure we cannot read at all is soft ("unclassified"): never suppress on a guess.

References: RFC 3463; IANA SMTP enhanced status codes; RFC 7372 (5.7.20-5.7.26); RFC 7505 (null MX);
the shared notes `deliverability_automations_forms.md` §1.2, §1.5, §1.6 (sisimai's reason taxonomy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Verdict", "classify", "find_status", "TEXT_RULES", "STATUS_RULES", "SUBJECT_DEFAULTS"]

FailureKind = Literal["hard", "soft"]


@dataclass(frozen=True)
class Verdict:
    kind: FailureKind
    reason: str
    sender_warning: bool = False  # the failure is about the sender's DNS, authentication or reputation


@dataclass(frozen=True)
class TextRule:
    pattern: re.Pattern[str]
    verdict: Verdict
    source: str  # where real servers are seen saying this
    overrides: bool  # decides even against a precise status code


def _rule(
    regex: str, kind: FailureKind, reason: str, source: str, *, warn: bool = False, overrides: bool = False
) -> TextRule:
    # Patterns are lower case and matched against lower-cased text (re.IGNORECASE is 2-3 times slower).
    return TextRule(re.compile(regex), Verdict(kind, reason, warn), source, overrides or warn)


HARD: FailureKind = "hard"
SOFT: FailureKind = "soft"

TEXT_RULES: tuple[TextRule, ...] = (
    # --- about the sender: warn staff, soft for the recipient ------------------------------------
    _rule(
        r"\bspf\b|sender policy framework",
        SOFT,
        "auth_failure",
        "RFC 7372 5.7.23/5.7.24; Gmail '550-5.7.26 ... SPF'",
        warn=True,
    ),
    _rule(
        r"\bdkim\b|\bdmarc\b|unauthenticated|not authenticated|authentication (?:check )?fail",
        SOFT,
        "auth_failure",
        "RFC 7372 5.7.20-5.7.26; Gmail '5.7.26 This mail is unauthenticated'",
        warn=True,
    ),
    _rule(
        r"block ?list|black ?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|barracudacentral|\(s3150\)"
        r"|blocked using|\b(?:ip|client host)\b[^.]{0,60}\blisted\b",
        SOFT,
        "blocklisted",
        "Microsoft '550 5.7.1 ... on our block list (S3150)' (notes §1.5, Mautic #9222); Spamhaus/RBL rejections",
        warn=True,
    ),
    _rule(
        r"reputation|\[tss\d+\]|unexpected volume|user complaints|rate.?limit|sending rate|mail flood",
        SOFT,
        "reputation",
        "Yahoo '421 4.7.0 [TSS04] ... unexpected volume or user complaints' (notes §1.5); RFC 7372 5.7.28",
        warn=True,
    ),
    _rule(
        r"reverse dns|\bptr\b|\brdns\b",
        SOFT,
        "reverse_dns",
        "RFC 7372 5.7.25; Gmail '550-5.7.25 ... PTR record'",
        warn=True,
    ),
    # --- dead addresses (hard) -------------------------------------------------------------------
    _rule(
        r"resolver\.adr\.recip(?:ient)?notfound|recipient not found by smtp address lookup",
        HARD,
        "user_unknown",
        "Exchange Online uses '550 5.1.10 RESOLVER.ADR.RecipientNotFound' for an unknown recipient, "
        "although RFC 7505 gives 5.1.10 to null MX (Microsoft 'NDR 5.1.10' help page)",
        overrides=True,
    ),
    _rule(
        r"recipient address rejected: access denied",
        HARD,
        "user_unknown",
        "Exchange Online Directory-Based Edge Blocking: '550 5.4.1 Recipient address rejected: "
        "Access denied' for an address not in the directory (sisimai userunknown list)",
        overrides=True,
    ),
    _rule(
        r"user(?:name)? unknown|unknown (?:user|recipient|mailbox|address)|no such (?:user|mailbox|recipient|person)"
        r"|(?:account|address|mailbox|user) (?:\S+ )?(?:does not|doesn't|does not) exist"
        r"|email account that you tried to reach does not exist|this user doesn'?t have an? \S+ account"
        r"|no mailbox here by that name|mailbox not (?:found|present)|invalid (?:recipient|mailbox)"
        r"|not a valid (?:recipient|mailbox|user)|address not present in directory|is not a known user"
        r"|recipient (?:unknown|not found)|mailbox unknown|bad destination mailbox",
        HARD,
        "user_unknown",
        "Postfix 'User unknown in ... table', qmail 'no mailbox here by that name', Gmail 'The email "
        "account that you tried to reach does not exist', Yahoo 'dd This user doesn't have a ... account' "
        "(sisimai userunknown); wins over an ambiguous 5.0.0/5.5.0/5.7.1 code",
    ),
    _rule(
        r"host (?:or domain name )?not found|host unknown|domain (?:name )?not found|unrouteable|unroutable"
        r"|nonexistentdomain|domain does not exist|no such domain|name service error|dns error: domain"
        r"|unknown host|no mx (?:record|host)",
        HARD,
        "host_unknown",
        "Postfix 'Host or domain name not found', Exim 'Unrouteable address', Exchange "
        "'SMTPSEND.DNS.NonExistentDomain', Gmail 'DNS Error: Domain name not found' (notes §1.5)",
    ),
    _rule(
        r"null mx|does not accept (?:e-?)?mail",
        HARD,
        "null_mx",
        "RFC 7505 (a domain that publishes a null MX accepts no mail)",
    ),
    _rule(
        r"mailbox (?:has )?moved|has moved|no longer (?:available|valid) at this address|address has changed",
        HARD,
        "mailbox_moved",
        "RFC 3463 X.1.6; sisimai hasmoved",
    ),
    # --- mailbox trouble, filtering, transient (soft) --------------------------------------------
    _rule(
        r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the )?(?:storage|quota)|insufficient storage"
        r"|mailbox size limit|out of storage|mailbox is over",
        SOFT,
        "mailbox_full",
        "Gmail '552 5.2.2 ... over quota', Exim 'mailbox is full' (sisimai mailboxfull); 5xx or not, soft",
    ),
    _rule(
        r"(?:account|mailbox|user) (?:\S+ )?(?:is |has been )?(?:disabled|deactivated|suspended|inactive|locked)"
        r"|mailbox disabled",
        SOFT,
        "account_disabled",
        "Gmail '550 5.2.1 The email account that you tried to reach is disabled', Yahoo 'This mailbox is "
        "disabled (554.30)' (sisimai suspend); issue 19 decision: account disabled is soft",
    ),
    _rule(
        r"mailbox (?:is )?unavailable",
        SOFT,
        "mailbox_unavailable",
        "RFC 5321's generic 550 text; Outlook.com sends it as '550 5.5.0' for missing and blocked mailboxes "
        "alike, so it is soft unless the code is precise",
    ),
    _rule(
        r"too many (?:concurrent )?connections|connection limit|too many sessions",
        SOFT,
        "too_many_connections",
        "sisimai toomanyconn; RFC 3463 X.4.5 congestion",
    ),
    _rule(
        r"expired|retry time(?:out)? (?:not reached|exceeded)|could not be delivered within|queue\.expired"
        r"|delivery time ?out|gave up",
        SOFT,
        "expired",
        "Exchange 'QUEUE.Expired', Postfix 'delivery temporarily suspended ... expired' (sisimai expired)",
    ),
    _rule(
        r"message (?:is )?too (?:large|big)|size (?:limit|exceeds)|exceeds (?:the )?(?:maximum )?(?:message )?size",
        SOFT,
        "message_too_large",
        "RFC 3463 X.2.3/X.3.4",
    ),
    _rule(
        r"spam|unsolicited|junk|content (?:was )?rejected|virus|malware|phish",
        SOFT,
        "spam_block",
        "Gmail '550 5.7.1 ... likely unsolicited mail' (sisimai spamdetected/filtered)",
    ),
)

STATUS_RULES: dict[str, Verdict] = {
    "X.1.1": Verdict(HARD, "user_unknown"),
    "X.1.2": Verdict(HARD, "host_unknown"),
    "X.1.3": Verdict(HARD, "bad_address"),
    "X.1.6": Verdict(HARD, "mailbox_moved"),
    "5.1.10": Verdict(HARD, "null_mx"),
    "X.4.4": Verdict(HARD, "host_unknown"),  # unable to route (notes §1.2: SES may still say Transient)
    "X.2.1": Verdict(SOFT, "account_disabled"),
    "X.2.2": Verdict(SOFT, "mailbox_full"),
    "X.2.3": Verdict(SOFT, "message_too_large"),
    "X.3.4": Verdict(SOFT, "message_too_large"),
    "X.3.1": Verdict(SOFT, "system_full"),
    "X.4.5": Verdict(SOFT, "too_many_connections"),
    "X.4.7": Verdict(SOFT, "expired"),
    "X.7.13": Verdict(SOFT, "account_disabled"),
    "X.7.1": Verdict(SOFT, "policy"),  # ambiguous by design (blocklist, spam, policy): never hard on the code
    # RFC 7372 and the registry: failures of the sender's own authentication or reputation.
    "X.7.20": Verdict(SOFT, "auth_failure", True),
    "X.7.21": Verdict(SOFT, "auth_failure", True),
    "X.7.22": Verdict(SOFT, "auth_failure", True),
    "X.7.23": Verdict(SOFT, "auth_failure", True),
    "X.7.24": Verdict(SOFT, "auth_failure", True),
    "X.7.25": Verdict(SOFT, "reverse_dns", True),
    "X.7.26": Verdict(SOFT, "auth_failure", True),
    "X.7.27": Verdict(SOFT, "auth_failure", True),  # the sender's domain publishes a null MX
    "X.7.28": Verdict(SOFT, "reputation", True),  # mail flood
}

# RFC 3463 §3 subjects, for codes no rule above names.
SUBJECT_DEFAULTS: dict[str, Verdict] = {
    "0": Verdict(SOFT, "unclassified"),
    "1": Verdict(SOFT, "bad_address_other"),  # 5.1.0/5.1.4/... "other address status": not proof of death
    "2": Verdict(SOFT, "mailbox_unavailable"),
    "3": Verdict(SOFT, "system_error"),
    "4": Verdict(SOFT, "network_error"),
    "5": Verdict(SOFT, "protocol_error"),
    "6": Verdict(SOFT, "content_rejected"),
    "7": Verdict(SOFT, "policy"),
}

UNCLASSIFIED = Verdict(SOFT, "unclassified")

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_BASIC = re.compile(r"(?<![\d.])([245])\d\d(?:[ :-]|$)")


def find_status(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in `text` ("5.1.1"), else one made from a basic SMTP
    reply code ("550" -> "5.0.0"), else None."""
    found = _ENHANCED.search(text)
    if found:
        return ".".join(found.groups())
    basic = _BASIC.search(text)
    return f"{basic.group(1)}.0.0" if basic else None


def classify(status: str | None, diagnostic: str | None) -> Verdict:
    """Hard or soft, a reason label and the sender warning for one failed recipient.

    `status` is the enhanced code from the report (may be None); `diagnostic` the remote server's
    words (Diagnostic-Code or the text a non-standard bounce quotes).
    """
    text = diagnostic or ""
    if status is None and text:
        status = find_status(text)
    precise = _precise_rule(status)
    verdict = _by_text(text, code_is_precise=precise is not None) or precise or _by_subject(status)
    if status is not None and status.startswith("4") and verdict.kind == HARD:
        # A 4.x.x that finally failed: the retries ran out, the address is not proven dead.
        return Verdict(SOFT, verdict.reason, verdict.sender_warning)
    return verdict


def _by_text(text: str, *, code_is_precise: bool) -> Verdict | None:
    if not text:
        return None
    text = text.lower()
    for rule in TEXT_RULES:
        if rule.pattern.search(text):
            if rule.overrides or not code_is_precise:
                return rule.verdict
            return None  # generic words: the precise code decides
    return None


_VAGUE = frozenset({"X.7.1"})


def _precise_rule(status: str | None) -> Verdict | None:
    if status is None:
        return None
    exact = STATUS_RULES.get(status)
    if exact is not None:
        return exact
    anyclass = "X." + status.partition(".")[2]
    if anyclass in _VAGUE:
        return None
    return STATUS_RULES.get(anyclass)


def _by_subject(status: str | None) -> Verdict:
    if status is None:
        return UNCLASSIFIED
    if "X." + status.partition(".")[2] in _VAGUE:
        return STATUS_RULES["X.7.1"]
    subject = status.split(".")[1]
    return SUBJECT_DEFAULTS.get(subject, UNCLASSIFIED)
