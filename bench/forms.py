"""Benchmark: double opt-in form submissions against a running `fanhub serve`, 8 clients.

    uv run python bench/forms.py [--submissions 6000] [--clients 8] [--database-url URL]

A real server process (`python -m fanhub serve`, its in-process worker sending the confirmations
to the outbox) on a fresh SQLite file unless a URL is given; a double opt-in form made with
`fanhub form create`. Each client posts form-encoded submissions (new addresses, the embedded
form's stamp) over keep-alive connections and follows nothing: every answer must be the 303 to the
thank-you page. The rate limits and the fill time are lifted for the run through the settings
(`FANHUB_FORM_RATE_PER_IP=0`, `FANHUB_FORM_RATE_PER_FORM=0`), as a bench is one IP sending all.
A ninth client polls `/healthz` throughout, measured in the same run. Target: >= 300 submissions/s
with p99 < 200 ms. Beside the wall-clock rate, the submissions per CPU-second of the server process
(its worker sending the confirmations included), which the load of other processes on a shared
machine does not distort; and the confirmation emails still queued when the submissions stop,
with the seconds the worker then takes to send them all (the outbox stands in for SMTP). The last
line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(q * len(ordered))) - 1)] * 1000 if ordered else 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the machine is shared, and the
    server's CPU time per submission is what other processes' load does not distort."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _queued_confirmations(url: str) -> int:
    """Confirmation emails still waiting for the server's in-process worker."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(text("SELECT count(*) FROM form_submissions WHERE email_send_state = 'queued'")) or 0
            )
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fanhub(env: dict[str, str], *args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "fanhub", *args, "--json"], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"fanhub {' '.join(args)} failed: {out.stdout} {out.stderr}")
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    args = parser.parse_args()

    import httpx

    workdir = Path(tempfile.mkdtemp(prefix="fanhub-bench-forms-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    port = _free_port()
    env = dict(
        os.environ,
        FANHUB_DATABASE_URL=url,
        FANHUB_SECRET_KEY="bench-secret",
        FANHUB_PUBLIC_URL=f"http://127.0.0.1:{port}",
        FANHUB_FORM_RATE_PER_IP="0",
        FANHUB_FORM_RATE_PER_FORM="0",
        FANHUB_VALIDATION_PROCESSES="0",
    )
    org = _fanhub(env, "org", "create", "Bench Venue")["id"]
    created = _fanhub(env, "form", "create", "--org", str(org), "--name", "Pre-sale", "--double-opt-in")
    key = str(created["url"]).rsplit("/", 1)[1]
    stamp = str(created["embed_html"]).split('name="t" value="', 1)[1].split('"', 1)[0]

    server = subprocess.Popen(
        [sys.executable, "-m", "fanhub", "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    health: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {"content-type": "application/x-www-form-urlencoded", "referer": "https://venue.example/join"}
        bodies = [
            urlencode({"email": f"fan{n}@bench-mail.net", "t": stamp, "website": ""}) for n in range(args.submissions)
        ]
        clients = [httpx.Client(base_url=base, headers=headers, timeout=30) for _ in range(args.clients)]
        with httpx.Client(base_url=base, headers=headers, timeout=30) as warm:  # templates, the first writes
            for n in range(20):
                warm.post(f"/f/{key}", content=urlencode({"email": f"warm{n}@bench-mail.net", "t": stamp}))
        work = iter(range(args.submissions))
        done = threading.Event()

        def submit(client: httpx.Client) -> None:
            with client:
                while True:
                    with lock:
                        index = next(work, None)
                    if index is None:
                        return
                    t = time.perf_counter()
                    response = client.post(f"/f/{key}", content=bodies[index])
                    elapsed = time.perf_counter() - t
                    with lock:
                        latencies.append(elapsed)
                        if response.status_code != 303:
                            errors.append(f"{response.status_code} {response.text[:200]}")

        def poll_health() -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                while not done.is_set():
                    t = time.perf_counter()
                    client.get("/healthz").raise_for_status()
                    health.append(time.perf_counter() - t)
                    time.sleep(0.02)

        threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
        watcher = threading.Thread(target=poll_health)
        started = time.perf_counter()
        cpu_started = _cpu_seconds(server.pid)
        watcher.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(server.pid) - cpu_started
        done.set()
        watcher.join()
        # The worker stepped back during the run (it shares the server's GIL): the confirmations it
        # left, and how long it takes to send them once the submissions stop.
        queued_at_end = _queued_confirmations(url)
        drain_started = time.perf_counter()
        while _queued_confirmations(url) and time.perf_counter() - drain_started < 120:
            time.sleep(0.2)
        drain = time.perf_counter() - drain_started
        left = _queued_confirmations(url)
    finally:
        server.terminate()
        server.wait(10)
    if errors:
        raise SystemExit(f"{len(errors)} submissions not answered 303, e.g. {errors[0]}")
    figures = {
        "submissions": args.submissions,
        "clients": args.clients,
        "per_second": round(args.submissions / elapsed, 1),
        "per_server_cpu_second": round(args.submissions / cpu, 1) if cpu else None,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_pct(latencies, 0.99), 2),
        "healthz_p50_ms": round(statistics.median(health) * 1000, 2) if health else None,
        "healthz_p99_ms": round(_pct(health, 0.99), 2),
        "confirmations_queued_at_end": queued_at_end,
        "confirmations_drained_s": round(drain, 1) if not left else None,
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "target_met": args.submissions / elapsed >= 300 and _pct(latencies, 0.99) < 200,
    }
    if not args.database_url:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
