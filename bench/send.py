"""Benchmark: a campaign to N recipients through fanhub's sender vs a plain smtplib loop, same SMTP server.

    uv run python bench/send.py [--recipients 50000] [--database-url URL] [--dkim]

The SMTP server (aiosmtpd, accepting and discarding) runs in its own process on 127.0.0.1 so it
does not compete for the sender's GIL. The reference is the simplest honest sender: one
connection, one personalised message per recipient (the same text and HTML alternative, with an
unsubscribe link, built with an f-string), `sendmail` in a loop. Rounds alternate between the two
so that load from other processes falls on both alike. fanhub's figure covers
the whole send: fixing the recipient list from the segment, claiming and marking every delivery
in the database (one commit per message, the crash-safety price), rendering the template with
tracked links, pixel and unsubscribe headers, over `FANHUB_CAMPAIGN_SEND_CONNECTIONS` (default 2)
SMTP connections, as a production sender would. The last line is JSON.

`--dkim` adds a DKIM-signed campaign to every round (its organization has a sending domain, so a
2048-bit key, from `organizations.sending_domains`, and the pipe signs its mail), the plain and
signed sends taking turns going first, and adds `dkim_emails_s`, `dkim_ratio` (to the same
unsigned reference) and `dkim_vs_plain` (signed over unsigned emails/s) to the JSON. Both sends
report the sender process's CPU time per email (`cpu_ms_per_email`, `dkim_cpu_ms_per_email`; the
SMTP server's is not in it): what signing costs whatever the machine. The SMTP server counts the
signatures it receives: exactly one per signed email, none on the others.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import smtplib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _smtp_server(port_queue: Any, stop: Any, signatures: Any) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            found = envelope.content.count(b"DKIM-Signature:")
            if found:
                with signatures.get_lock():
                    signatures.value += found
            return "250 OK"

    class Ephemeral(Controller):
        def _trigger_server(self) -> None:
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = Ephemeral(Sink(), hostname="127.0.0.1", port=0)
    controller.start()
    port_queue.put(controller.port)
    stop.wait()
    controller.stop()


def reference_message(i: int) -> bytes:
    """What a hand-written loop would send: the same text and HTML alternative, personalised, no tracking."""
    boundary = f"=_ref_{i}"
    return (
        f"From: Belly Up <news@bellyup.example>\r\nTo: Fan {i} <fan{i}@example.com>\r\n"
        f"Subject: Fan {i}, new show on sale\r\nDate: Fri, 27 Nov 2026 10:00:00 GMT\r\n"
        f"Message-ID: <ref{i}@bellyup.example>\r\nMIME-Version: 1.0\r\n"
        f"List-Unsubscribe: <https://bellyupaspen.com/unsubscribe?u={i}>\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hi Fan,\r\nThe Head & The Heart plays Belly Up Aspen. Tickets (https://bellyupaspen.com/t)\r\n"
        f"Don't want these emails? Unsubscribe (https://bellyupaspen.com/unsubscribe?u={i}).\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p>Hi Fan,</p><p>The Head &amp; The Heart plays Belly Up Aspen. <a href="https://bellyupaspen.com/t">'
        'Tickets</a></p><p style="font-size:12px;color:#666">Don\'t want these emails? '
        f'<a href="https://bellyupaspen.com/unsubscribe?u={i}">Unsubscribe</a>.</p>\r\n'
        f"--{boundary}--\r\n"
    ).encode()


def reference_loop(port: int, n: int) -> float:
    smtp = smtplib.SMTP("127.0.0.1", port)
    started = time.perf_counter()
    for i in range(n):
        smtp.sendmail("news@bellyup.example", [f"fan{i}@example.com"], reference_message(i))
    elapsed = time.perf_counter() - started
    smtp.quit()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the two senders")
    parser.add_argument("--dkim", action="store_true", help="also send DKIM-signed campaigns, in alternation")
    args = parser.parse_args()
    n = args.recipients

    workdir = Path(tempfile.mkdtemp(prefix="fanhub-bench-send-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    ctx = multiprocessing.get_context("spawn")
    port_queue, stop = ctx.Queue(), ctx.Event()
    signatures = ctx.Value("q", 0)  # DKIM-Signature headers the SMTP server received
    server = ctx.Process(target=_smtp_server, args=(port_queue, stop, signatures), daemon=True)
    server.start()
    try:
        port = int(port_queue.get(timeout=30))
        os.environ.update(
            {
                "FANHUB_DATABASE_URL": url,
                "FANHUB_SMTP_HOST": "127.0.0.1",
                "FANHUB_SMTP_PORT": str(port),
                "FANHUB_SECRET_KEY": "bench-secret",
                "FANHUB_PUBLIC_URL": "https://fans.bellyup.example",
                "FANHUB_MAIL_FROM": "Belly Up <news@bellyup.example>",
            }
        )
        from sqlalchemy import insert

        from fanhub.audience.models import Contact
        from fanhub.auth.actor import Actor
        from fanhub.campaigns.sending import run_campaign
        from fanhub.campaigns.service import create_campaign, schedule_campaign
        from fanhub.config import get_settings
        from fanhub.db.base import utcnow
        from fanhub.db.engine import get_database
        from fanhub.db.migrate import upgrade
        from fanhub.organizations.sending_domains import add_sending_domain
        from fanhub.organizations.service import create_organization

        get_settings.cache_clear()
        upgrade(url)
        database = get_database()
        rounds = max(1, min(args.rounds, n))
        sizes = [n // rounds + (1 if r < n % rounds else 0) for r in range(rounds)]
        variants = ["plain", "dkim"] if args.dkim else ["plain"]
        campaigns: list[int] = []
        with database.write() as session:
            now = utcnow()
            offset = 0
            for size, variant in ((size, variant) for size in sizes for variant in variants):
                # One organization per campaign: each campaign reaches exactly its own contacts.
                org = create_organization(session, f"Bench venue {len(campaigns) + 1}").id
                if variant == "dkim":
                    add_sending_domain(session, Actor.cli(org), "bellyup.example")
                rows = [
                    {
                        "organization_id": org,
                        "email": f"fan{i}@example.com",
                        "first_name": "Fan",
                        "last_name": str(i),
                        "email_status": "subscribed",
                        "email_status_at": now,
                        "sms_status": "unknown",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(offset, offset + size)
                ]
                offset += size
                for start in range(0, size, 5000):
                    session.execute(insert(Contact), rows[start : start + 5000])
                campaign = create_campaign(
                    session,
                    org,
                    type="email",
                    name="Bench",
                    subject="{{ first_name }} {{ last_name }}, new show on sale",
                    body="<p>Hi {{ first_name }},</p><p>The Head &amp; The Heart plays Belly Up Aspen. "
                    '<a href="https://bellyupaspen.com/t">Tickets</a></p>',
                )
                schedule_campaign(session, org, campaign.id)
                campaigns.append(campaign.id)

        # Rounds alternate between the two senders so that load from other processes on the
        # machine falls on both alike.
        reference_seconds = 0.0
        seconds = dict.fromkeys(variants, 0.0)
        cpu = dict.fromkeys(variants, 0.0)  # the sender process's CPU time, all its threads
        profile = None
        if os.environ.get("FANHUB_BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
        delivered = dict.fromkeys(variants, 0)
        for round_number, size in enumerate(sizes):
            reference_seconds += size / reference_loop(port, size)
            in_round = dict(zip(variants, campaigns[round_number * len(variants) :], strict=False))
            # The plain and signed sends take turns going first.
            for variant in variants if round_number % 2 == 0 else variants[::-1]:
                if profile is not None:
                    profile.enable()
                started, started_cpu = time.perf_counter(), time.process_time()
                counters = run_campaign(database, in_round[variant])
                seconds[variant] += time.perf_counter() - started
                cpu[variant] += time.process_time() - started_cpu
                if profile is not None:
                    profile.disable()
                assert counters["delivered"] == size, counters
                delivered[variant] += counters["delivered"]
        if profile is not None:
            import pstats

            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        reference = n / reference_seconds
        rate = delivered["plain"] / seconds["plain"]
        print(f"reference smtplib loop: {reference:,.0f} emails/s", file=sys.stderr)
        print(f"fanhub campaign: {rate:,.0f} emails/s", file=sys.stderr)
        result = {
            "recipients": n,
            "emails_s": round(rate, 1),
            "reference_emails_s": round(reference, 1),
            "ratio": round(rate / reference, 3),
            "cpu_ms_per_email": round(cpu["plain"] / delivered["plain"] * 1000, 3),
            "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        }
        # Exactly one signature on each signed email and none on the others: the pipe signs by itself.
        assert signatures.value == delivered.get("dkim", 0), f"{signatures.value} DKIM signatures received"
        if args.dkim:
            signed_rate = delivered["dkim"] / seconds["dkim"]
            print(f"fanhub campaign, DKIM-signed: {signed_rate:,.0f} emails/s", file=sys.stderr)
            result.update(
                {
                    "dkim_emails_s": round(signed_rate, 1),
                    "dkim_ratio": round(signed_rate / reference, 3),
                    # Signed vs unsigned in the same run, their rounds interleaved: the figure least
                    # moved by other processes' load (the issue asks for at least 0.9).
                    "dkim_vs_plain": round(signed_rate / rate, 3),
                    # What signing costs the sender whatever the machine: the RSA step alone is
                    # ~0.27 ms on this VM's CPU (2048-bit, OpenSSL).
                    "dkim_cpu_ms_per_email": round(cpu["dkim"] / delivered["dkim"] * 1000, 3),
                }
            )
        print(json.dumps(result))
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()
        if not args.database_url:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
