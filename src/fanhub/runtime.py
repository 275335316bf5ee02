"""Interpreter settings for fanhub's long-running processes (`serve`, `worker`, the validation helper)."""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_SECONDS = 0.001


def tune_runtime() -> None:
    """Settings for a long-running process (`serve`, `worker`), called once its modules are loaded.

    The cyclic garbage collector is kept off what was loaded at startup: applying a batch
    allocates hundreds of thousands of short-lived objects, and every few thousand the collector
    used to rescan the whole heap of imported modules (a quarter of the apply time). Frozen
    objects are never scanned; the higher first threshold means fewer passes.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    # A thread back from I/O (a connector's next page arriving in 64 KB reads, a commit) waits for
    # the running thread to give up the GIL, by default after 5 ms: a 222 KB page came in four such
    # waits, and at 1 ms a worker's backfill measured 10-30% faster (bench/sync.py). In the API an
    # accept holding the write lock waited so at each of its SQLite calls while other requests were
    # validated, and the rest queued behind it: accept p99 145-178 ms at 1 ms, 191-231 ms at 5 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
