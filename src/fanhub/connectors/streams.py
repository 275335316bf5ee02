"""Declared streams, after the Singer SDK's stream classes and Airbyte's low-code manifests.

A stream is a class naming one list endpoint of a platform: `name` (its checkpoint row), `path` (a
template filled from the connector's context, e.g. `organizations/{organization_id}/orders/`),
`records_key`, `primary_key`, `replication_key` (the field whose highest value becomes the cursor)
and a `paginator`. Platforms declare them as class attributes; the loops live here, once:

- `SnapshotStream`: a full scan each sync that re-emits only the records whose signature differs
  from the one in the checkpoint (events: few, and not every platform filters them by change).
- `IncrementalStream`: reads what changed since the cursor less a look-back overlap. It owns the
  run state (where an unfinished scan stands), the highest cursor seen, the checkpoints and the
  deadline. The cursor moves only when a scan completes, so a scan stopped half-way never skips.

Records and the checkpoint that covers them are committed together by `SyncWriter`, so a sync
stopped at any moment resumes from its last commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import TypeAdapter

from fanhub.connectors.base import ApiClient, ConnectorError
from fanhub.connectors.sync import SyncWriter
from fanhub.ingest.records import ContactRecord, EventRecord, OrderRecord


@dataclass
class Page:
    records: list[dict[str, Any]]
    # Where to resume after this page (None: the stream is finished).
    next_state: dict[str, Any] | None


class Paginator:
    """Turns one response into (records, position to resume from)."""

    # The checkpoint keys that hold a position inside a scan.
    position_keys: ClassVar[tuple[str, ...]] = ()

    def position(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The resume position stored in `state` ({} when no scan is under way)."""
        return {key: state[key] for key in self.position_keys if state.get(key)}

    def advance(self, state: Mapping[str, Any], next_state: Mapping[str, Any] | None) -> dict[str, Any]:
        """`state` with its position replaced by `next_state`'s (cleared when the scan finished)."""
        return {**state, **{key: (next_state or {}).get(key) for key in self.position_keys}}

    def first_params(self, position: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, body: Any, records_key: str, params: dict[str, Any]) -> Page:
        raise NotImplementedError


class ContinuationPaginator(Paginator):
    """Eventbrite: repeat the same request with `continuation` while `has_more_items`."""

    position_keys = ("continuation",)

    def first_params(self, position: Mapping[str, Any]) -> dict[str, Any]:
        return {"continuation": position["continuation"]} if position.get("continuation") else {}

    def parse(self, body: Any, records_key: str, params: dict[str, Any]) -> Page:
        records = list(body.get(records_key) or [])
        pagination = body.get("pagination") or {}
        token = pagination.get("continuation")
        if pagination.get("has_more_items") and token and records:
            return Page(records, {"continuation": token})
        return Page(records, None)


class StartingAfterPaginator(Paginator):
    """Ticket Tailor: `starting_after=<oldest id of the page>`, newest first, limit 100.

    The `links.next` the API returns is not trusted (live it drops `/v1` and rewrites filters),
    so the next request is built from our own parameters. Some pages came back ascending, so
    the cursor is the oldest record of the page by (created_at, numeric id), not simply the last.
    """

    position_keys = ("starting_after",)
    limit = 100

    def first_params(self, position: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.limit}
        if position.get("starting_after"):
            params["starting_after"] = position["starting_after"]
        return params

    @staticmethod
    def _key(record: dict[str, Any]) -> tuple[int, int, str]:
        ident = str(record.get("id", ""))
        digits = ident.rsplit("_", 1)[-1]
        created = record.get("created_at")
        return (
            int(created) if isinstance(created, int | float) else 0,
            int(digits) if digits.isdigit() else 0,
            ident,
        )

    def parse(self, body: Any, records_key: str, params: dict[str, Any]) -> Page:
        records = list(body.get(records_key) or [])
        links = body.get("links") or {}
        if not records or not links.get("next"):
            return Page(records, None)
        oldest = min(records, key=self._key)
        return Page(records, {"starting_after": oldest["id"]})


class Stream:
    """One list endpoint of a platform, declared by its class attributes and bound to a client."""

    name: ClassVar[str]
    path: ClassVar[str]
    records_key: ClassVar[str]
    paginator: ClassVar[Paginator]
    primary_key: ClassVar[str] = "id"
    replication_key: ClassVar[str | None] = None
    params: ClassVar[Mapping[str, Any]] = {}
    # The parts of each page the mapping reads (TypedDicts with `Any` leaves), parsed straight from
    # the response bytes: everything else never becomes Python objects. An Eventbrite order page with
    # expansions is ~4.4 KB per order, and turning all of it into dicts cost more than mapping it.
    shape: ClassVar[TypeAdapter[Any] | None] = None

    def __init__(self, client: ApiClient, context: Mapping[str, str] | None = None) -> None:
        self.client = client
        # Values for the placeholders of `path` (the platform's organization id, an event id, ...).
        self.context = dict(context or {})

    @property
    def url_path(self) -> str:
        return self.path.format(**self.context)

    def fetch(self, params: dict[str, Any]) -> Any:
        return self.client.get_json(self.url_path, params, self.shape)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of a small list (venues, ticket classes), from the first page to the last."""
        for page in self.pages({}):
            yield from page.records

    def pages(
        self, position: Mapping[str, Any], params: Mapping[str, Any] | None = None, prefetch: bool = True
    ) -> Iterator[Page]:
        """Pages from `position` on; each carries the position to store with its records.

        With `prefetch`, the next page is requested in a background thread while the caller maps
        and commits this one: the platform's response time overlaps our work.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prefetch-{self.name}") if prefetch else None
        static = {**self.params, **(params or {})}

        def load(page_position: Mapping[str, Any]) -> Page:
            request = {**static, **self.paginator.first_params(page_position)}
            return self.paginator.parse(self.fetch(request), self.records_key, request)

        seen: set[str] = set()
        try:
            pending: Future[Page] | None = None
            page = load(dict(position))
            while True:
                if executor is not None and page.next_state is not None:
                    pending = executor.submit(load, page.next_state)
                fresh = [r for r in page.records if str(r.get(self.primary_key)) not in seen]
                seen.update(str(r.get(self.primary_key)) for r in fresh)
                if page.records and not fresh:
                    # A cursor that goes nowhere new would loop forever: the stream is finished.
                    yield Page([], None)
                    return
                yield Page(fresh, page.next_state)
                if page.next_state is None:
                    return
                page = pending.result() if pending is not None else load(page.next_state)
                pending = None
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class SyncRun:
    """One sync of a connection, as every stream of it sees it."""

    writer: SyncWriter
    full: bool = False
    # time.monotonic() after which a stream stops at its next checkpoint (None: run to the end).
    deadline: float | None = None

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


class SyncedStream(Stream):
    """A stream that a sync runs from its checkpoint."""

    def prepare(self, run: SyncRun) -> None:
        """Read what this stream needs to know before any stream of the sync runs (default: nothing)."""

    def sync(self, run: SyncRun) -> bool:
        """Read from the checkpoint on; False when stopped by the deadline (the next sync resumes)."""
        raise NotImplementedError


class SnapshotStream(SyncedStream):
    """A full scan each sync that emits only the events whose signature changed since the checkpoint.

    Checkpoint: `{"seen": {id: signature}, **position}`; a full sync forgets `seen` (unless a scan
    is under way, which it finishes first).
    """

    def signature(self, raw: dict[str, Any]) -> str:
        raise NotImplementedError

    def map_record(self, raw: dict[str, Any]) -> EventRecord | None:
        raise NotImplementedError

    def sync(self, run: SyncRun) -> bool:
        state = run.writer.load(self.name)
        position = self.paginator.position(state)
        seen: dict[str, str] = {} if run.full and not position else dict(state.get("seen") or {})
        for page in self.pages(position):
            records = []
            for raw in page.records:
                key, signature = str(raw[self.primary_key]), self.signature(raw)
                if seen.get(key) == signature:
                    continue
                record = self.map_record(raw)
                if record is not None:
                    records.append(record)
                seen[key] = signature
            run.writer.add(self.name, {"seen": seen, **(page.next_state or {})}, events=records)
            if page.next_state is not None and run.out_of_time():
                run.writer.flush()
                return False
        run.writer.flush()
        return True


# Run-state keys written before the streams were declared (Eventbrite and Ticket Tailor named them
# apart); read as today's names so a scan under way at the upgrade resumes where it stood.
_LEGACY_RUN_KEYS = {"gte": "since", "max_changed": "highest", "max_created": "highest"}


def _current(state: dict[str, Any]) -> dict[str, Any]:
    scan = state.get("run")
    if not isinstance(scan, dict) or not any(key in scan for key in _LEGACY_RUN_KEYS):
        return state
    return {**state, "run": {_LEGACY_RUN_KEYS.get(key, key): value for key, value in scan.items()}}


Emitted = tuple[OrderRecord | None, ContactRecord | None]


class IncrementalStream(SyncedStream):
    """Orders changed since the cursor (less `lookback_seconds`), newest state committed page by page.

    Checkpoint: `{"cursor": highest replication value of the last completed scan}`, plus, while a
    scan is under way, `"run": {"since", "highest", "full", **position}`. A re-read (the look-back,
    a rescan) queues only the orders whose record changed.
    """

    # The request parameter that takes the lower bound of a scan.
    since_param: ClassVar[str]
    # The type of the replication key's values (others are ignored: they cannot be compared).
    cursor_type: ClassVar[type] = str
    # Error codes meaning "this scan's position expired": the scan restarts from its own `since`.
    restart_codes: ClassVar[frozenset[str]] = frozenset()
    # Whether a full sync restarts a scan under way that was not itself full.
    restarts_for_full: ClassVar[bool] = True
    # The look-back overlap: how far before the cursor a scan starts.
    lookback_seconds: int = 0

    def shift(self, cursor: Any, seconds: int) -> Any:
        """`cursor` moved back by `seconds` (numeric cursors; platforms with text cursors override)."""
        return cursor - seconds

    def map_record(self, raw: dict[str, Any]) -> Emitted:
        raise NotImplementedError

    def since_for_new_scan(self, state: Mapping[str, Any], run: SyncRun) -> Any:
        cursor = state.get("cursor")
        if run.full or not cursor:
            return None
        return self.shift(cursor, self.lookback_seconds)

    def cursor_value(self, raw: Mapping[str, Any]) -> Any:
        value = raw.get(self.replication_key or "")
        if not isinstance(value, self.cursor_type) or isinstance(value, bool) or value == "":
            return None
        return value

    def sync(self, run: SyncRun) -> bool:
        state = _current(run.writer.load(self.name))
        scan = state.get("run")
        if scan is None or (self.restarts_for_full and run.full and not scan.get("full")):
            since = self.since_for_new_scan(state, run)
            scan = {"since": since, "highest": state.get("cursor"), "full": run.full}
        since = scan.get("since")
        params = {self.since_param: since} if since is not None else {}
        try:
            for page in self.pages(self.paginator.position(scan), params):
                orders, contacts, highest = self._map_page(run, page.records, scan.get("highest"), since is not None)
                scan = {**self.paginator.advance(scan, page.next_state), "highest": highest}
                if page.next_state is None:
                    done = {key: value for key, value in state.items() if key != "run"}
                    run.writer.add(self.name, {**done, "cursor": highest}, orders=orders, contacts=contacts)
                else:
                    run.writer.add(self.name, {**state, "run": scan}, orders=orders, contacts=contacts)
                    if run.out_of_time():
                        run.writer.flush()
                        return False
        except ConnectorError as exc:
            if exc.code in self.restart_codes:
                # The position expired: the next run restarts this scan from its `since`, losing nothing.
                run.writer.flush()
                run.writer.commit(self.name, {**state, "run": self.paginator.advance(scan, None)})
            raise
        run.writer.flush()
        return True

    def _map_page(
        self, run: SyncRun, raws: list[dict[str, Any]], highest: Any, rereading: bool
    ) -> tuple[list[OrderRecord], list[ContactRecord], Any]:
        emitted: list[tuple[OrderRecord, ContactRecord | None]] = []
        for raw in raws:
            value = self.cursor_value(raw)
            if value is not None and (highest is None or value > highest):
                highest = value
            order, contact = self.map_record(raw)
            if order is None:
                run.writer.result.skipped += 1
                continue
            emitted.append((order, contact))
        if rereading:
            # A re-read returns orders we already hold: drop those whose record did not change.
            same = run.writer.unchanged_orders([order for order, _ in emitted])
            emitted = [(order, contact) for order, contact in emitted if order.id not in same]
        return [order for order, _ in emitted], [contact for _, contact in emitted if contact is not None], highest
