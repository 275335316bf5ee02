"""Bounce benchmark: read and classify N bounce messages from a Maildir vs the standard library's email parser alone.

    uv run python bench/bounces.py [--messages 50000]

Builds a Maildir in a temp folder from the real-format samples in tests/deliverability/samples
(every format in turn: Postfix, Exim, Sendmail, qmail, Exchange/Office 365, Gmail, Google Workspace,
Yahoo, SES, ARF, JMRP, delays, auto-replies), each copy with its own recipient, VERP token and
Message-ID. Then, in the same run and with the files in the page cache for both:

- reference (`reference_messages_s`): list the Maildir's new/ folder, read each file and parse it
  with `email.message_from_bytes` (the standard library's parser, compat32, as `parse_bounce` uses);
- fanhub (`messages_s`): `read_messages` + `parse_bounce` on every message, reports counted by kind.

Rounds alternate between the two so that load from other processes falls on both alike.
With `--apply` (the default) the fanhub figure also includes `deliverability.apply` on a real SQLite
database holding one sent delivery per bounced recipient, so every report is matched (by address,
the slowest path: the samples' tokens are not signed), recorded, and suppresses or unsubscribes;
each round uses fresh replay keys so no round is a cheap replay. `--no-apply` measures classify only.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path

from fanhub.deliverability.dsn import parse_bounce
from fanhub.deliverability.mailbox import read_messages
from fanhub.deliverability.reports import BounceReport

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "deliverability" / "samples"
_TOKEN = re.compile(rb"c1(\d\d)-0a1b2c3d\d\d")
_MESSAGE_ID = re.compile(rb"c1(\d\d)\.abc@")

# The database step: set by `database_apply` (main), timed inside the fanhub figure.
APPLY: Callable[[list[BounceReport]], None] | None = None
BATCH = 500


def database_apply(workdir: Path, count: int) -> Callable[[list[BounceReport]], None]:
    """A migrated SQLite database with one organization, one sent campaign and a delivery (sent now)
    for every recipient the generated messages name; returns the function applying a batch."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from fanhub.audience.models import Contact
    from fanhub.campaigns.models import Campaign, CampaignStats, Delivery
    from fanhub.db.engine import Database
    from fanhub.db.migrate import upgrade
    from fanhub.deliverability.apply import apply_reports
    from fanhub.organizations.models import Organization

    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    database = Database(url)
    shapes = templates()
    now = datetime.now(UTC)
    with database.write() as session:
        session.execute(insert(Organization).values(id=1, name="Bench", created_at=now))
        session.execute(insert(Campaign).values(id=1, organization_id=1, type="email", name="B", status="sent"))
        session.execute(insert(CampaignStats).values(campaign_id=1, organization_id=1, recipients=count))
        addresses = [
            f"fan{1000 + n}x{k}@{a.partition('@')[2]}"
            for n in range(count)
            for k, a in enumerate(shapes[n % len(shapes)][1])
        ]
        for start in range(0, len(addresses), 5000):
            chunk = addresses[start : start + 5000]
            first = start + 1
            session.execute(
                insert(Contact),
                [
                    {"id": first + i, "organization_id": 1, "email": a, "email_status": "subscribed"}
                    for i, a in enumerate(chunk)
                ],
            )
            session.execute(
                insert(Delivery),
                [
                    {
                        "organization_id": 1,
                        "campaign_id": 1,
                        "contact_id": first + i,
                        "channel": "email",
                        "address": a,
                        "status": "sent",
                        "attempts": 1,
                        "sent_at": now,
                    }
                    for i, a in enumerate(chunk)
                ],
            )
    keys = iter(range(10**12))

    def apply(batch: list[BounceReport]) -> None:
        apply_reports(database, [(report, f"bench:{next(keys)}") for report in batch])

    return apply


def templates() -> list[tuple[bytes, list[str]]]:
    """Each sample's bytes and the recipient addresses it names (to be replaced per copy)."""
    found = []
    for path in sorted(SAMPLES.glob("*.eml")):
        raw = path.read_bytes()
        recipients = sorted({r.recipient for r in parse_bounce(raw) if r.recipient})
        found.append((raw, recipients))
    return found


def make_message(template: tuple[bytes, list[str]], n: int) -> bytes:
    raw, recipients = template
    raw = _TOKEN.sub(f"c{n}-{n * 2654435761 % 2**40:010x}".encode(), raw)
    raw = _MESSAGE_ID.sub(f"c{n}.abc@".encode(), raw)
    for k, address in enumerate(recipients):
        domain = address.partition("@")[2]
        fresh = f"fan{n}x{k}@{domain}".encode()
        raw = re.sub(re.escape(address.encode()), fresh, raw, flags=re.IGNORECASE)
    return raw


def build_maildir(folder: Path, count: int) -> Path:
    maildir = folder / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    shapes = templates()
    for n in range(count):
        (maildir / "new" / f"1716000000.M{n}P1.bench").write_bytes(make_message(shapes[n % len(shapes)], 1000 + n))
    return maildir


def reference_round(maildir: Path) -> tuple[float, float]:
    """Wall and CPU seconds to list, read and parse every message with the standard library alone."""
    started, cpu = time.perf_counter(), time.process_time()
    for entry in sorted(os.scandir(maildir / "new"), key=lambda e: e.name):
        with open(entry.path, "rb") as handle:
            message_from_bytes(handle.read())
    return time.perf_counter() - started, time.process_time() - cpu


def fanhub_round(maildir: Path, counts: Counter[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds to read, classify (and, once the hook is set, apply) every message; messages read."""
    started, cpu = time.perf_counter(), time.process_time()
    read = 0
    batch: list[BounceReport] = []
    for _name, raw in read_messages(maildir):
        read += 1
        for report in parse_bounce(raw):
            counts[report.kind if report.kind != "ignored" else f"ignored:{report.reason}"] += 1
            batch.append(report)
        if read % BATCH == 0:
            if APPLY is not None:
                APPLY(batch)
            batch = []
    if APPLY is not None and batch:
        APPLY(batch)
    return time.perf_counter() - started, time.process_time() - cpu, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2, help="alternations between the two readers")
    parser.add_argument(
        "--apply", action=argparse.BooleanOptionalAction, default=True, help="include the database step"
    )
    args = parser.parse_args()
    global APPLY
    workdir = Path(tempfile.mkdtemp(prefix="fanhub-bench-bounces-"))
    try:
        started = time.perf_counter()
        maildir = build_maildir(workdir, args.messages)
        if args.apply:
            APPLY = database_apply(workdir, args.messages)
        print(f"built {args.messages:,} messages in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        # CPU figures too: on a shared machine the wall clock also measures other processes' load.
        reference_seconds = fanhub_seconds = reference_cpu = fanhub_cpu = 0.0
        read = 0
        counts: Counter[str] = Counter()
        for _ in range(max(1, args.rounds)):
            wall, cpu = reference_round(maildir)
            reference_seconds, reference_cpu = reference_seconds + wall, reference_cpu + cpu
            counts.clear()
            wall, cpu, read = fanhub_round(maildir, counts)
            fanhub_seconds, fanhub_cpu = fanhub_seconds + wall, fanhub_cpu + cpu
        rounds = max(1, args.rounds)
        reference = args.messages * rounds / reference_seconds
        rate = read * rounds / fanhub_seconds
        print(f"reference (read + email parser): {reference:,.0f} messages/s", file=sys.stderr)
        print(f"fanhub (read_messages + parse_bounce): {rate:,.0f} messages/s", file=sys.stderr)
        print(
            json.dumps(
                {
                    "messages": read,
                    "messages_s": round(rate, 1),
                    "reference_messages_s": round(reference, 1),
                    "ratio": round(rate / reference, 3),
                    "cpu_messages_s": round(read * rounds / fanhub_cpu, 1),
                    "reference_cpu_messages_s": round(args.messages * rounds / reference_cpu, 1),
                    "reports": dict(sorted(counts.items())),
                    "apply": APPLY is not None,
                    "target_messages_s": 2000,
                }
            )
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
