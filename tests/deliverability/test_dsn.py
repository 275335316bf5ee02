"""parse_bounce on every sample in samples/ (each names its format's source in X-Sample-Source), and
the classification table's documented decisions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fanhub.deliverability.classify import Verdict, classify, find_status
from fanhub.deliverability.dsn import parse_bounce
from fanhub.deliverability.reports import BounceReport

SAMPLES = Path(__file__).parent / "samples"


@dataclass(frozen=True)
class Expected:
    kind: str
    reason: str
    recipient: str | None
    status: str | None
    token: str | None
    message_id: str | None
    source: str = "dsn"
    sender_warning: bool = False


def _mid(n: int) -> str:
    return f"c{n}.abc@mail.venue.example"


def _tok(n: int) -> str:
    return f"c{n}-0a1b2c3d{n - 100:02d}"


CASES: dict[str, list[Expected]] = {
    "postfix_user_unknown.eml": [Expected("hard", "user_unknown", "nobody@example.net", "5.1.1", _tok(101), _mid(101))],
    "postfix_delayed.eml": [Expected("ignored", "delayed", "slow@example.net", None, _tok(102), _mid(102))],
    "postfix_tss04_expired.eml": [
        Expected("soft", "reputation", "fan103@example.com", "4.7.0", _tok(103), _mid(103), sender_warning=True)
    ],
    "exim_mailbox_full.eml": [
        Expected("soft", "mailbox_full", "full@example.net", "5.2.2", _tok(104), _mid(104), "heuristic:exim")
    ],
    "sendmail_three_recipients.eml": [
        Expected("hard", "user_unknown", "gone@example.com", "5.1.1", _tok(105), _mid(105)),
        Expected("soft", "mailbox_full", "stuffed@example.com", "5.2.2", _tok(105), _mid(105)),
        Expected("soft", "blocklisted", "guarded@example.org", "5.7.1", _tok(105), _mid(105), sender_warning=True),
    ],
    "qmail_no_mailbox.eml": [
        Expected("hard", "user_unknown", "ghost@example.org", "5.1.1", _tok(106), _mid(106), "heuristic:qmail")
    ],
    "yahoo_no_account.eml": [
        Expected("hard", "user_unknown", "nosuchfan@example.net", "5.0.0", _tok(107), _mid(107), "heuristic:yahoo")
    ],
    "gmail_text_failed_permanently.eml": [
        Expected("hard", "user_unknown", "lost@example.net", "5.1.1", _tok(108), _mid(108), "heuristic:gmail")
    ],
    "office365_recipient_not_found.eml": [
        Expected("hard", "user_unknown", "left@contoso.example.com", "5.1.10", _tok(109), _mid(109))
    ],
    "exchange2003_text.eml": [
        Expected(
            "hard", "user_unknown", "retired@corp.example.org", "5.1.1", _tok(110), _mid(110), "heuristic:exchange"
        )
    ],
    "google_workspace_dmarc.eml": [
        Expected(
            "soft", "auth_failure", "staff@workspace.example.com", "5.7.26", _tok(111), _mid(111), sender_warning=True
        )
    ],
    "ses_bounce.eml": [Expected("hard", "user_unknown", "unknown.fan@example.com", "5.1.1", _tok(112), _mid(112))],
    "outlook_blocklist_s3150.eml": [
        Expected("soft", "blocklisted", "realfan@example.com", "5.7.1", _tok(113), _mid(113), sender_warning=True)
    ],
    "delivered_success_dsn.eml": [Expected("ignored", "delivered", "happy@example.com", None, _tok(114), _mid(114))],
    # Complaints reach the feedback address: the token comes from Original-Mail-From / Return-Path.
    "arf_yahoo_abuse.eml": [Expected("complaint", "abuse", "annoyed@example.net", None, _tok(115), _mid(115), "arf")],
    "arf_aol_rcpt_to.eml": [
        Expected("complaint", "abuse", "complainer@example.com", None, _tok(116), _mid(116), "arf")
    ],
    "jmrp_outlook_complaint.eml": [
        Expected("complaint", "abuse", "hotfan@example.com", None, _tok(117), _mid(117), "heuristic:jmrp")
    ],
    "out_of_office.eml": [Expected("ignored", "auto_reply", None, None, _tok(118), _mid(118))],
    "ordinary_reply.eml": [Expected("ignored", "not_a_bounce", None, None, _tok(119), _mid(119))],
}


def test_every_sample_has_a_case_and_names_its_source() -> None:
    files = sorted(path.name for path in SAMPLES.glob("*.eml"))
    assert files == sorted(CASES)
    assert len(files) >= 15
    for path in SAMPLES.glob("*.eml"):
        assert path.read_bytes().startswith(b"X-Sample-Source: "), path.name


@pytest.mark.parametrize("name", sorted(CASES))
def test_sample(name: str) -> None:
    reports = parse_bounce((SAMPLES / name).read_bytes())
    got = [
        Expected(r.kind, r.reason, r.recipient, r.status, r.verp_token, r.message_id, r.source, r.sender_warning)
        for r in reports
    ]
    assert got == CASES[name]


def test_failures_carry_the_remote_servers_words() -> None:
    (report,) = parse_bounce((SAMPLES / "postfix_user_unknown.eml").read_bytes())
    assert report.diagnostic == (
        "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    (qp,) = parse_bounce((SAMPLES / "office365_recipient_not_found.eml").read_bytes())
    assert qp.diagnostic is not None and "RESOLVER.ADR.RecipientNotFound" in qp.diagnostic
    assert qp.occurred_at is not None and qp.occurred_at.year == 2024


def test_bounce_address_limits_the_token_to_our_own_address() -> None:
    raw = (SAMPLES / "postfix_user_unknown.eml").read_bytes()
    assert parse_bounce(raw, bounce_address="bounces@mail.venue.example")[0].verp_token == _tok(101)
    assert parse_bounce(raw, bounce_address="returns@other.example")[0].verp_token is None


def test_exim_auto_submitted_header_does_not_hide_the_bounce() -> None:
    # Exim marks its bounces Auto-Submitted: auto-replied; they come from Mailer-Daemon.
    raw = (SAMPLES / "exim_mailbox_full.eml").read_bytes()
    assert b"Auto-Submitted: auto-replied" in raw
    assert parse_bounce(raw)[0].kind == "soft"


def test_a_delay_warning_in_text_never_counts() -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
        b"To: bounces+c200-aa@mail.venue.example\nSubject: Warning: message 1s7 delayed 24 hours\n\n"
        b"This message was created automatically by mail delivery software.\n"
        b"A message that you sent has not yet been delivered to one or more of its recipients after\n"
        b"more than 24 hours on the queue on mx.example.net.\n\n  later@example.net\n"
        b"    Delay reason: SMTP error from remote mail server after RCPT TO:<later@example.net>:\n"
        b"    451 4.3.0 Temporary lookup failure\n\nNo action is required on your part. Delivery attempts"
        b" will continue for some time, and this warning may be repeated.\n"
    )
    assert [(r.kind, r.reason, r.verp_token) for r in parse_bounce(raw)] == [("ignored", "delayed", "c200-aa")]


@pytest.mark.parametrize(
    "headers",
    [
        b"Precedence: auto_reply\nSubject: Re: your mail\n",
        b"X-Autoreply: yes\nSubject: Re: your mail\n",
        b"Subject: Out of Office: New show on sale\n",
        b"Subject: Auto: New show on sale\n",
        b"X-Apple-Action: vacation\nSubject: hello\n",
    ],
)
def test_auto_replies_are_ignored(headers: bytes) -> None:
    raw = b"From: Pat <pat@example.com>\nTo: bounces+c201-bb@mail.venue.example\n" + headers + b"\nAway.\n"
    assert [(r.kind, r.reason) for r in parse_bounce(raw)] == [("ignored", "auto_reply")]


def test_garbage_is_ignored_never_raised() -> None:
    for raw in (b"", b"\x00\xff\xfe", b"Content-Type: multipart/report; report-type=delivery-status\n\n--x"):
        reports = parse_bounce(raw)
        assert len(reports) == 1 and reports[0].kind == "ignored"


def test_a_bounce_naming_nobody_still_reports_for_its_token() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: bounces+c202-cc@mail.venue.example\n"
        b"Subject: Returned mail: see transcript for details\n\n"
        b"The message could not be delivered.\n550 5.1.2 Host unknown (Name server: example.invalid.: host not found)\n"
    )
    assert parse_bounce(raw) == [
        BounceReport(
            kind="hard",
            reason="host_unknown",
            status="5.1.2",
            diagnostic="550 5.1.2 Host unknown (Name server: example.invalid.: host not found)",
            verp_token="c202-cc",
            source="heuristic:generic",
        )
    ]


def test_arf_not_spam_and_auth_failure_are_not_complaints() -> None:
    raw = (SAMPLES / "arf_aol_rcpt_to.eml").read_bytes()
    not_spam = parse_bounce(raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam"))
    assert [(r.kind, r.reason) for r in not_spam] == [("ignored", "not_a_bounce")]
    auth = parse_bounce(raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: auth-failure"))
    assert [(r.kind, r.reason, r.sender_warning) for r in auth] == [("ignored", "auth_failure_report", True)]


# --- the classification table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        ("5.1.1", None, Verdict("hard", "user_unknown")),
        ("5.1.2", None, Verdict("hard", "host_unknown")),
        ("5.1.6", None, Verdict("hard", "mailbox_moved")),
        ("5.1.10", None, Verdict("hard", "null_mx")),
        ("5.4.4", None, Verdict("hard", "host_unknown")),
        ("5.2.2", None, Verdict("soft", "mailbox_full")),
        ("5.2.1", None, Verdict("soft", "account_disabled")),
        ("4.4.7", None, Verdict("soft", "expired")),
        ("5.4.5", None, Verdict("soft", "too_many_connections")),
        ("5.3.0", None, Verdict("soft", "system_error")),
        ("5.7.1", None, Verdict("soft", "policy")),
        ("5.7.13", None, Verdict("soft", "account_disabled")),
        ("5.7.23", None, Verdict("soft", "auth_failure", True)),
        ("5.7.25", None, Verdict("soft", "reverse_dns", True)),
        (None, None, Verdict("soft", "unclassified")),
        # A final 4.x.x is soft even when the words say the user is unknown.
        (
            "4.1.1",
            "450 4.1.1 <a@example.net>: Recipient address rejected: User unknown",
            Verdict("soft", "user_unknown"),
        ),
        # Exchange Online's 5.1.10 means recipient not found, not null MX.
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", Verdict("hard", "user_unknown")),
        # A precise code beats generic words; generic words decide a vague code.
        ("5.1.1", "550 5.1.1 Requested action not taken: mailbox unavailable", Verdict("hard", "user_unknown")),
        ("5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable", Verdict("soft", "mailbox_unavailable")),
        (
            "5.7.1",
            "550 5.7.1 <a@example.net>: Recipient address rejected: User unknown",
            Verdict("hard", "user_unknown"),
        ),
        ("5.7.1", "550 5.7.1 [192.0.2.1] likely unsolicited mail", Verdict("soft", "spam_block")),
        # Anything about the sender's own DNS or reputation warns staff, whatever the code.
        (
            "5.1.1",
            "550 5.1.1 client host [192.0.2.1] blocked using zen.spamhaus.org",
            Verdict("soft", "blocklisted", True),
        ),
        ("5.7.1", "550 5.7.1 DMARC policy violation", Verdict("soft", "auth_failure", True)),
        (None, "554 delivery error: dd This user doesn't have a yahoo.com account", Verdict("hard", "user_unknown")),
        (None, "552 Mailbox quota exceeded", Verdict("soft", "mailbox_full")),
        (None, "Unrouteable address", Verdict("hard", "host_unknown")),
        (None, "554 This mailbox is disabled (554.30)", Verdict("soft", "account_disabled")),
    ],
)
def test_classify(status: str | None, text: str | None, expected: Verdict) -> None:
    assert classify(status, text) == expected


def test_find_status_ignores_ip_addresses_and_longer_numbers() -> None:
    assert find_status("from [192.0.2.50] said 550-5.1.1 no") == "5.1.1"
    assert find_status("version 5.1.1.3 and 10.4.4.2") is None
    assert find_status("421 try later") == "4.0.0"
    assert find_status("nothing here") is None


def test_text_rules_are_lower_case_because_text_is_lowered_before_matching() -> None:
    import re

    from fanhub.deliverability.classify import TEXT_RULES

    for rule in TEXT_RULES:
        literal = re.sub(r"\\.", "", rule.pattern.pattern)  # escapes like \S and \d are not letters to match
        assert literal == literal.lower(), rule.pattern.pattern
