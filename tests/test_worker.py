"""The in-process worker steps back while the API has requests in flight, and never starves."""

from __future__ import annotations

import threading
import time

from fanhub.worker import RequestLoad, Worker


class _Counting(Worker):
    """A worker whose only job takes ~10 ms and records when it ran."""

    def __init__(self, load: RequestLoad, defer: float, share: float) -> None:
        super().__init__(None, 0.02, load=load, busy_defer_seconds=defer, busy_share=share)  # type: ignore[arg-type]
        self.runs: list[float] = []

    def run_once(self) -> bool:
        self.runs.append(time.monotonic())
        time.sleep(0.01)
        return True


def _run_for(worker: Worker, seconds: float) -> None:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    time.sleep(seconds)
    worker.stop()
    thread.join(timeout=5)


def test_idle_api_lets_the_worker_run_flat_out() -> None:
    worker = _Counting(RequestLoad(), defer=10.0, share=0.25)
    _run_for(worker, 0.3)
    assert len(worker.runs) >= 15  # ~10 ms a unit, back to back


def test_busy_api_defers_the_worker_then_it_resumes_when_requests_end() -> None:
    load = RequestLoad(quiet_seconds=0.01)
    load.started()
    worker = _Counting(load, defer=10.0, share=0.25)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    time.sleep(0.3)
    assert worker.runs == []  # a burst of accepts is answered first
    finished_at = time.monotonic()
    load.finished()
    time.sleep(0.2)
    worker.stop()
    thread.join(timeout=5)
    assert worker.runs and worker.runs[0] - finished_at < 0.1  # woken by the idle API, not a poll
    assert len(worker.runs) >= 8


def test_sustained_load_gets_its_share_after_the_defer_window() -> None:
    load = RequestLoad(quiet_seconds=0.01)
    load.started()
    worker = _Counting(load, defer=0.2, share=0.25)
    started = time.monotonic()
    _run_for(worker, 1.2)
    assert worker.runs, "the backlog must still drain under sustained load"
    assert worker.runs[0] - started >= 0.19
    # ~10 ms of work then ~30 ms of pause: about 25 runs in the remaining second, far below flat out.
    assert 10 <= len(worker.runs) <= 45
    load.finished()


def test_the_api_counts_requests_that_may_write_not_reads() -> None:
    import anyio

    from fanhub.app import CountRequests

    load = RequestLoad(quiet_seconds=0)
    seen: list[bool] = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append(load.busy)

    async def exercise() -> None:
        middleware = CountRequests(app, load)  # type: ignore[arg-type]
        for method in ("POST", "GET"):
            await middleware({"type": "http", "method": method}, None, None)  # type: ignore[arg-type]

    anyio.run(exercise)
    assert seen == [True, False]
    assert not load.busy  # counted down when the request ended


def test_a_short_gap_between_requests_is_still_a_busy_spell() -> None:
    """Clients posting one batch after another leave millisecond gaps: the worker must not start in one."""
    load = RequestLoad(quiet_seconds=0.15)
    load.started()
    spell_began = load.busy_since
    worker = _Counting(load, defer=10.0, share=0.25)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    for _ in range(5):  # five requests back to back, each followed by a gap far shorter than the quiet time
        time.sleep(0.03)
        load.finished()
        assert load.busy
        time.sleep(0.005)
        load.started()
    assert worker.runs == []
    assert load.busy_since == spell_began  # one spell, so its defer window is not restarted by each gap
    load.finished()
    finished_at = time.monotonic()
    time.sleep(0.4)
    worker.stop()
    thread.join(timeout=5)
    assert worker.runs, "the worker runs once the API has been quiet"
    assert worker.runs[0] - finished_at >= 0.14
    assert not load.busy
