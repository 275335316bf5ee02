"""The background worker: one loop that runs every domain's jobs.

`JOBS` names every domain's jobs; a job does one bounded unit of work and says whether it found
any (applying a batch, sending a slice of a campaign, running a due connector sync). `fanhub serve`
runs the loop in a thread beside the API; `fanhub worker` runs it alone, as many times as wanted
against PostgreSQL, where row claims keep two workers from doing the same unit twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from fanhub.db.engine import Database
from fanhub.wiring import connect_domains

log = logging.getLogger(__name__)

Job = Callable[[Database], bool]


def load_jobs() -> dict[str, Job]:
    """Every job the worker runs, in the order of one turn (imported here, not at the top, so a bare
    `fanhub org create` does not load the sending and connector code)."""
    from fanhub.campaigns import jobs as campaign_jobs
    from fanhub.connectors import jobs as connector_jobs
    from fanhub.deliverability import jobs as deliverability_jobs
    from fanhub.flows import jobs as flow_jobs
    from fanhub.forms import jobs as form_jobs
    from fanhub.imports import jobs as import_jobs
    from fanhub.ingest import jobs as ingest_jobs
    from fanhub.privacy import redact as privacy_redact

    return {
        "ingest.apply": ingest_jobs.apply_batches,
        "connectors.webhooks": connector_jobs.process_webhooks,
        "connectors.sync": connector_jobs.run_due_syncs,
        "campaigns.start_due": campaign_jobs.start_due_campaigns,
        "campaigns.send": campaign_jobs.send_next_slice,
        "flows.triggers": flow_jobs.scan_triggers,
        "flows.advance": flow_jobs.advance_enrollments,
        "flows.send": flow_jobs.send_steps,
        "imports.run": import_jobs.run_imports,
        "forms.confirmations": form_jobs.send_confirmations,
        "forms.sweep": form_jobs.sweep,
        "deliverability.mailbox": deliverability_jobs.poll_mailbox,
        "deliverability.catch_up": deliverability_jobs.catch_up,
        "deliverability.engagement": deliverability_jobs.engagement_ratings,
        "deliverability.sunset": deliverability_jobs.sunset_unengaged,
        "privacy.redact": privacy_redact.redact_step,
    }


class RequestLoad:
    """HTTP requests in flight in this process, for an in-process worker that steps back for them.

    Accepting a batch is latency-bound and applying one is throughput-bound, and in one process both
    run on one GIL: a worker applying flat out made every accept wait for the GIL at each of its
    I/O steps. Counted on the event loop; read by the worker thread.

    The load stays busy for `quiet_seconds` after the last request ends: clients posting one batch
    after another leave gaps of a millisecond or so (and group commit answers a whole group at
    once), and a worker that started applying in such a gap held up the next wave of accepts for
    a whole batch's apply; those were the slowest accepts of a run.
    """

    def __init__(self, quiet_seconds: float = 0.05) -> None:
        self.quiet_seconds = quiet_seconds
        self._in_flight = 0
        self._idle = threading.Event()
        self._idle.set()
        self.busy_since = 0.0
        self._last_finished = -quiet_seconds

    def started(self) -> None:
        if self._in_flight == 0 and time.monotonic() - self._last_finished >= self.quiet_seconds:
            self.busy_since = time.monotonic()
        self._in_flight += 1
        self._idle.clear()

    def finished(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._last_finished = time.monotonic()
            self._idle.set()

    @property
    def busy(self) -> bool:
        return self._in_flight > 0 or time.monotonic() - self._last_finished < self.quiet_seconds

    def wait_idle(self, timeout: float) -> None:
        """Return once no request is in flight and none was for `quiet_seconds`, or after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._idle.wait(remaining):
                return
            quiet_left = self._last_finished + self.quiet_seconds - time.monotonic()
            if self._in_flight == 0 and quiet_left <= 0:
                return
            time.sleep(max(0.0, min(quiet_left, deadline - time.monotonic())))


class Worker:
    """Runs the jobs until stopped.

    Beside an API (`load` given) it steps back while requests are in flight: for the first
    `busy_defer_seconds` of a busy spell it waits (a burst of accepts is answered at full speed and
    applied right after), then it takes at most `busy_share` of the time, so a backlog still drains
    under sustained load.
    """

    def __init__(
        self,
        database: Database,
        poll_seconds: float = 0.2,
        *,
        load: RequestLoad | None = None,
        busy_defer_seconds: float = 10.0,
        busy_share: float = 0.25,
    ) -> None:
        connect_domains()
        self.database = database
        self.poll_seconds = poll_seconds
        self.load = load
        self.busy_defer_seconds = busy_defer_seconds
        self.busy_share = busy_share
        self.jobs = load_jobs()
        self._stop = threading.Event()
        self._wake = threading.Event()

    def wake(self) -> None:
        """Called after new work is stored in this process, so it starts without waiting for a poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_once(self) -> bool:
        busy = False
        for name, fn in self.jobs.items():
            try:
                busy = fn(self.database) or busy
            except Exception:  # one failing job must never stop the others
                log.exception("worker job %s failed", name)
        return busy

    def run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            if self.load is not None and self.load.busy:
                deferred_until = self.load.busy_since + self.busy_defer_seconds
                if started < deferred_until:
                    self.load.wait_idle(min(deferred_until - started, self.poll_seconds))
                    continue
            if not self.run_once():
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
            elif self.load is not None and self.load.busy and self.busy_share < 1:
                spent = time.monotonic() - started
                self.load.wait_idle(spent * (1 - self.busy_share) / self.busy_share)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="fanhub-worker", daemon=True)
        thread.start()
        return thread
