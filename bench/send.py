"""Benchmark: a campaign to N recipients through fanhub's sender vs a plain smtplib loop, same SMTP server.

    uv run python bench/send.py [--recipients 50000] [--database-url URL] [--dkim] [--smtp-sink PATH]

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
signed sends taking turns going first, and a reference loop that signs each message inline with
the same OpenSSL signer before sending it. The JSON gains `dkim_emails_s`, `dkim_ratio` (signed
fanhub over the unsigned loop: the issue's "within 10% of today's ratio" compares it with `ratio`),
`dkim_vs_plain` (signed over unsigned fanhub, rounds interleaved) and `dkim_vs_reference_dkim`.
CPU per email is reported for each process (the sender, the SMTP server, the signing process):
what signing costs whatever the machine. aiosmtpd counts the signatures it receives: exactly one
per signed email, none on the others.

`--smtp-sink PATH` runs Postfix's `smtp-sink` (C) as the SMTP server instead of aiosmtpd. On a
two-core machine aiosmtpd needs 0.38-0.45 ms of CPU per email, as much as the sender itself, and
competes for the cores with the sender and the signing process, which a relay on another machine
would not; smtp-sink needs 0.04 ms. It ships with Postfix; without installing a mail server:
`apt-get download postfix && dpkg -x postfix_*.deb root`, then run with
`LD_LIBRARY_PATH=root/usr/lib/postfix` and `--smtp-sink root/usr/sbin/smtp-sink`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import smtplib
import socket
import subprocess
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


def reference_loop(port: int, first: int, n: int, sign: Any = None) -> float:
    """Seconds to send n reference messages over one connection; `sign` (bytes -> bytes) signs each
    one inline before it is sent, the simplest way to DKIM-sign."""
    smtp = smtplib.SMTP("127.0.0.1", port)
    started = time.perf_counter()
    for i in range(first, first + n):
        message = reference_message(i)
        smtp.sendmail("news@bellyup.example", [f"fan{i}@example.com"], sign(message) if sign else message)
    elapsed = time.perf_counter() - started
    smtp.quit()
    return elapsed


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(skip: int) -> float:
    """CPU time of this process's other children (the signing process; the resource tracker's is
    negligible): what signing costs outside the sender."""
    me, total = os.getpid(), 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and int(stat.parent.name) != skip:
            total += process_cpu_seconds(int(stat.parent.name))
    return total


class Meter:
    """Wall time and CPU time per sender ("plain", "dkim", "reference", "reference_dkim"): the
    sending process's own, the SMTP server's (its process) and the signing process's."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.totals: dict[str, dict[str, float]] = {}

    def run(self, name: str, emails: int, send: Any, *args: Any) -> Any:
        before = self._snapshot()
        result = send(*args)
        after = self._snapshot()
        totals = self.totals.setdefault(name, dict.fromkeys(("emails", *before), 0.0))
        totals["emails"] += emails
        for key, value in after.items():
            totals[key] += value - before[key]
        return result

    def _snapshot(self) -> dict[str, float]:
        return {
            "seconds": time.perf_counter(),
            "sender": time.process_time(),
            "smtp_server": process_cpu_seconds(self.server_pid),
            "signing": children_cpu_seconds(skip=self.server_pid),
        }

    def rate(self, name: str) -> float:
        return self.totals[name]["emails"] / self.totals[name]["seconds"]

    def cpu_ms(self, name: str, part: str) -> float:
        return round(self.totals[name][part] / self.totals[name]["emails"] * 1000, 3)


def seed(database: Any, sizes: list[int], variants: list[str]) -> list[int]:
    """One organization and campaign per round and variant, each reaching exactly its own contacts
    (fan0..fanN-1 across all of them, so every email goes to a different address)."""
    from sqlalchemy import insert

    from fanhub.audience.models import Contact
    from fanhub.auth.actor import Actor
    from fanhub.campaigns.service import create_campaign, schedule_campaign
    from fanhub.db.base import utcnow
    from fanhub.organizations.sending_domains import add_sending_domain
    from fanhub.organizations.service import create_organization

    campaigns: list[int] = []
    with database.write() as session:
        now = utcnow()
        offset = 0
        for size, variant in ((size, variant) for size in sizes for variant in variants):
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
    return campaigns


def measure(database: Any, port: int, meter: Meter, sizes: list[int], variants: list[str]) -> None:
    """Rounds alternate between the senders so that load from other processes on the machine falls
    on all alike; the plain and signed fanhub sends take turns going first."""
    from fanhub.campaigns.sending import run_campaign
    from fanhub.organizations.dkim_signing import DkimSigner, generate_private_key

    campaigns = seed(database, sizes, variants)
    reference_signer = DkimSigner("bellyup.example", "ref", generate_private_key()[0])
    profile = None
    if os.environ.get("FANHUB_BENCH_PROFILE"):
        import cProfile

        profile = cProfile.Profile()
    first = 0
    for round_number, size in enumerate(sizes):
        meter.run("reference", size, reference_loop, port, first, size)
        if "dkim" in variants:
            meter.run("reference_dkim", size, reference_loop, port, first, size, reference_signer)
        first += size
        in_round = dict(zip(variants, campaigns[round_number * len(variants) :], strict=False))
        for variant in variants if round_number % 2 == 0 else variants[::-1]:
            if profile is not None:
                profile.enable()
            counters = meter.run(variant, size, run_campaign, database, in_round[variant])
            if profile is not None:
                profile.disable()
            assert counters["delivered"] == size, counters
    if profile is not None:
        import pstats

        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def report(meter: Meter, n: int, url: str) -> dict[str, Any]:
    reference, rate = meter.rate("reference"), meter.rate("plain")
    print(f"reference smtplib loop: {reference:,.0f} emails/s", file=sys.stderr)
    print(f"fanhub campaign: {rate:,.0f} emails/s", file=sys.stderr)
    result: dict[str, Any] = {
        "recipients": n,
        "emails_s": round(rate, 1),
        "reference_emails_s": round(reference, 1),
        "ratio": round(rate / reference, 3),
        "cpu_ms_per_email": meter.cpu_ms("plain", "sender"),
        "smtp_server_cpu_ms_per_email": meter.cpu_ms("plain", "smtp_server"),
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
    }
    if "dkim" not in meter.totals:
        return result
    signed, reference_signed = meter.rate("dkim"), meter.rate("reference_dkim")
    print(f"fanhub campaign, DKIM-signed: {signed:,.0f} emails/s", file=sys.stderr)
    print(f"reference loop, DKIM-signed inline: {reference_signed:,.0f} emails/s", file=sys.stderr)
    result.update(
        {
            "dkim_emails_s": round(signed, 1),
            # Signed fanhub over the unsigned loop: the reading (within 10% of `ratio`).
            "dkim_ratio": round(signed / reference, 3),
            # Signed over unsigned fanhub, their rounds interleaved: what signing costs in throughput.
            "dkim_vs_plain": round(signed / rate, 3),
            # The loop signing each message inline (the same OpenSSL signer) before it sends it: the
            # plain way to do the same job, and fanhub against it.
            "reference_dkim_emails_s": round(reference_signed, 1),
            "dkim_vs_reference_dkim": round(signed / reference_signed, 3),
            # CPU per email, signed: the sender's own, the signing process's (RSA-2048 alone is
            # ~0.27 ms with OpenSSL on this VM) and the SMTP server's; on a machine with two cores
            # the three share them.
            "dkim_cpu_ms_per_email": meter.cpu_ms("dkim", "sender"),
            "dkim_signing_cpu_ms_per_email": meter.cpu_ms("dkim", "signing"),
            "dkim_smtp_server_cpu_ms_per_email": meter.cpu_ms("dkim", "smtp_server"),
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the two senders")
    parser.add_argument("--dkim", action="store_true", help="also send DKIM-signed campaigns, in alternation")
    parser.add_argument("--smtp-sink", metavar="PATH", help="Postfix's smtp-sink program, as the SMTP server")
    args = parser.parse_args()
    n = args.recipients

    workdir = Path(tempfile.mkdtemp(prefix="fanhub-bench-send-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    signatures = ctx.Value("q", 0)  # DKIM-Signature headers the aiosmtpd server received
    server, port = start_smtp_server(ctx, stop, signatures, args.smtp_sink)
    try:
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
        from fanhub.config import get_settings
        from fanhub.db.engine import get_database
        from fanhub.db.migrate import upgrade

        get_settings.cache_clear()
        upgrade(url)
        rounds = max(1, min(args.rounds, n))
        sizes = [n // rounds + (1 if r < n % rounds else 0) for r in range(rounds)]
        meter = Meter(server.pid or 0)
        measure(get_database(), port, meter, sizes, ["plain", "dkim"] if args.dkim else ["plain"])
        if not args.smtp_sink:  # smtp-sink does not look at what it receives
            # One signature on each signed email (fanhub's and the signed loop's), none on the others.
            expected = 2 * n if args.dkim else 0
            assert signatures.value == expected, f"{signatures.value} DKIM signatures received, {expected} expected"
        result = report(meter, n, url)
        result["smtp_server"] = "postfix smtp-sink" if args.smtp_sink else "aiosmtpd"
        print(json.dumps(result))
    finally:
        stop.set()
        if isinstance(server, subprocess.Popen):
            server.terminate()
            server.wait(10)
        else:
            server.join(10)
            if server.is_alive():
                server.terminate()
        if not args.database_url:
            shutil.rmtree(workdir, ignore_errors=True)


def start_smtp_server(ctx: Any, stop: Any, signatures: Any, smtp_sink: str | None) -> tuple[Any, int]:
    """The SMTP server every sender in the run talks to, and its port: aiosmtpd in a process of its
    own, or Postfix's `smtp-sink` (C; `--smtp-sink PATH`), which needs a tenth of aiosmtpd's CPU
    per message, so that on a small machine the server takes less from the senders' cores."""
    if smtp_sink:
        with socket.socket() as probe:  # a free port: smtp-sink cannot report the one it was given
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # -u: smtp-sink refuses to run as root; it drops to this user once it listens.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen([smtp_sink, *user, f"127.0.0.1:{port}", "256"])
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return sink, port
            time.sleep(0.05)
        sink.terminate()
        raise SystemExit(f"{smtp_sink} did not listen on 127.0.0.1:{port}")
    port_queue = ctx.Queue()
    server = ctx.Process(target=_smtp_server, args=(port_queue, stop, signatures), daemon=True)
    server.start()
    return server, int(port_queue.get(timeout=30))


if __name__ == "__main__":
    main()
