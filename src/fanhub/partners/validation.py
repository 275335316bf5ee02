"""Validating batch bodies, in helper processes when they are large.

An API process runs Python on one core at a time (the GIL), and validating a 500-order batch
(6-9 ms of pydantic) is most of an accept's CPU: eight partners posting at once queued behind each
other's validation while the machine's other cores idled. Bodies of `threshold_bytes` or more are
therefore checked by a small process pool; the API process keeps HTTP, auth and the durable store.

The pool only answers "valid, N items" or the errors, never the parsed records: the raw body is
what gets stored, and the apply validates it again from there, so a helper cannot change what is
applied. Until the pool is warm, or after it breaks (a helper killed), bodies are checked in the
API process: a request never fails because of the pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pydantic import BaseModel, ValidationError

from fanhub.ingest.records import locate

log = logging.getLogger(__name__)

# Below this a body validates in well under a millisecond, less than the round trip to a helper.
DEFAULT_THRESHOLD_BYTES = 64 * 1024
_ORPHAN_CHECK_SECONDS = 1.0
# Helpers validate while the API process moves bytes between sockets, threads and SQLite; on a
# machine with as many helpers as cores, equal shares left the event loop waiting for a core.
HELPER_NICENESS = 10

PlainErrors = list[dict[str, Any]]


def check_body(model: type[BaseModel], items_field: str, body: bytes, context: dict[str, Any]) -> int | PlainErrors:
    """The number of items in a valid body, or its validation errors in plain (picklable) form.

    The one validation rule for batch bodies, wherever it runs.
    """
    try:
        parsed = model.model_validate_json(body, context=context)
    except ValidationError as exc:
        return [_plain(error) for error in exc.errors(include_url=False, include_input=False)]
    items = getattr(parsed, items_field)
    return duplicate_keys(body) or _duplicate_ids(items_field, items) or len(items)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> None:
    # Returns None, not a dict: only the check is wanted, and building nothing is cheaper.
    if len(pairs) > 1 and len({key for key, _ in pairs}) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)


def duplicate_keys(body: bytes) -> PlainErrors:
    """An error naming a key that one JSON object of `body` repeats (pydantic silently keeps the last)."""
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        message = f"the key {exc.key!r} appears twice in one object; which one counts would be a guess"
        return [{"type": "duplicate_key", "loc": (exc.key,), "msg": message}]
    return []


def _duplicate_ids(items_field: str, items: list[Any]) -> PlainErrors:
    """Errors for items that repeat an earlier item's id, naming both positions."""
    first: dict[str, int] = {}
    errors: PlainErrors = []
    for position, item in enumerate(items):
        earlier = first.setdefault(item.id, position)
        if earlier != position:
            message = f"the id {item.id!r} is also {items_field}[{earlier}]'s; one batch holds each record once"
            errors.append({"type": "duplicate_id", "loc": (items_field, position, "id"), "msg": message})
    return errors


def _plain(error: Any) -> dict[str, Any]:
    loc, message = locate(error)
    plain = {"type": error["type"], "loc": loc, "msg": message}
    if "ctx" in error:
        plain["ctx"] = {key: str(value) for key, value in error["ctx"].items()}
    return plain


def _start_helper(parent_pid: int) -> None:
    """Runs first in each helper: yield the CPU to the API process, exit when it is gone (even
    killed with -9), and warm up before taking any body."""
    os.nice(HELPER_NICENESS)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_ORPHAN_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="fanhub-orphan-watch", daemon=True).start()
    _warm_up()
    # As in every long-running fanhub process: validating a batch allocates thousands of objects,
    # and with the default collector thresholds each helper spent a third of its time rescanning
    # the modules it imported (10.2 ms per 500-order body against 6.9 ms in a tuned process).
    from fanhub.runtime import tune_runtime

    tune_runtime()


def _warm_up() -> None:
    # The first validation builds what pydantic and phonenumbers load lazily (a region's metadata).
    from fanhub.partners.schemas import CreateOrdersRequest

    body = (
        b'{"orders": [{"id": "w", "event_id": "w", "customer": {"email": "w@example.com", "phone": "+13035550100"},'
        b' "marketing_opt_ins": {"email": true}, "items": [{"total_price": 1.0}],'
        b' "created_at": "2024-03-02T15:30:00Z"}]}'
    )
    check_body(CreateOrdersRequest, "orders", body, {"phone_region": "US"})


class ValidationPool:
    """Helper processes that validate large batch bodies; see the module docstring."""

    def __init__(self, processes: int, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> None:
        self.processes = max(0, processes)
        self.threshold_bytes = threshold_bytes
        self._executor: ProcessPoolExecutor | None = None
        self._ready = threading.Event()
        self._settled = threading.Event()  # every helper warmed up, or the pool failed to start
        self._mutex = threading.Lock()
        self._closed = False
        self._helper_pids: list[int] = []

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def helper_pids(self) -> list[int]:
        """Process ids of the helpers that have answered so far (for operators and tests)."""
        return list(self._helper_pids)

    def start(self) -> None:
        """Spawn and warm the helpers in the background; bodies are checked in-process meanwhile."""
        if self.processes == 0:
            return
        with self._mutex:
            if self._closed or self._executor is not None:
                return
            # spawn, not fork: the API process has threads (worker, thread pool) a fork would copy mid-state.
            executor = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_helper,
                initargs=(os.getpid(),),
            )
            self._executor = executor
            warm_ups = [executor.submit(os.getpid) for _ in range(self.processes)]

        def warmed(future: Future[int]) -> None:
            with self._mutex:
                if self._executor is not executor:
                    return
                if future.exception() is not None:
                    log.warning("validation helpers failed to start, validating in-process: %s", future.exception())
                    self._settled.set()
                    return
                if future.result() not in self._helper_pids:
                    self._helper_pids.append(future.result())
                if all(other.done() and other.exception() is None for other in warm_ups):
                    self._ready.set()
                    self._settled.set()

        for future in warm_ups:
            future.add_done_callback(warmed)

    def wait_ready(self, timeout: float) -> bool:
        """Wait for a started pool's helpers to be warm; False at once when there is no pool."""
        if self._executor is None:
            return False
        self._settled.wait(timeout)
        return self._ready.is_set()

    async def check(
        self, model: type[BaseModel], items_field: str, body: bytes, context: dict[str, Any]
    ) -> int | PlainErrors:
        """`check_body`, in a helper when the body is large and the pool is warm."""
        executor = self._executor
        if executor is None or len(body) < self.threshold_bytes or not self._ready.is_set():
            return check_body(model, items_field, body, context)
        try:
            return await asyncio.wrap_future(executor.submit(check_body, model, items_field, body, context))
        except BrokenProcessPool:
            log.warning("a validation helper died; validating in-process while the pool restarts")
            self._restart(executor)
            return check_body(model, items_field, body, context)
        except RuntimeError:
            if self._executor is executor:
                raise
            return check_body(model, items_field, body, context)  # the pool closed under this request

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._mutex:
            if self._executor is not broken:
                return  # another request restarted it already
            self._ready.clear()
            self._settled.clear()
            self._executor = None
            self._helper_pids = []
        broken.shutdown(wait=False, cancel_futures=True)
        self.start()

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            executor, self._executor = self._executor, None
            self._ready.clear()
            self._helper_pids = []
        if executor is not None:
            # Waiting (helpers are idle, or finish one body) lets the executor release its queues'
            # semaphores; without it every shutdown printed a resource_tracker "leaked" warning.
            executor.shutdown(wait=True, cancel_futures=True)
