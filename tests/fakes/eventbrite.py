"""In-process fake of the Eventbrite API v3 (``https://www.eventbriteapi.com/v3``).

Reproduces, from the Eventbrite API blueprint (reference ``002``) and ``notes/eventbrite.md``:

* Auth (blueprint "Authentication"; notes §1): ``Authorization: Bearer <token>`` or ``?token=``.
  Missing token -> 401 ``NO_AUTH``; wrong token -> 401 ``INVALID_AUTH`` (the live behaviour).
* Error format (blueprint "Errors"): ``{"status_code", "error", "error_description"}``.
* Paths with the mandatory trailing slash (notes §2); unknown paths -> 404 ``NOT_FOUND``.
* Continuation pagination (blueprint "Paginated Responses" / "Pagination (object)"): every list has
  ``pagination = {object_count, page_number, page_size, page_count, continuation,
  has_more_items}``; page_size defaults to 50; the token is opaque; repeating the request with the
  last token returns an empty list.  A malformed token -> 400 ``BAD_CONTINUATION_TOKEN``.
* Expansions (blueprint "Expansions" v1 ``?expand=a,b`` and v2 ``?expand.order=a``): order
  ``attendees``, ``contact_list_preferences``, ``event``; event ``venue``, ``logo``; attendee
  ``event``, ``order``, ``contact_list_preferences``.  Expanded keys are absent otherwise.
* Objects shaped as the blueprint's Event, Order, Attendee, Ticket Class, Venue, Organization,
  User, Webhook, Currency Cost, datetime-tz and Contact List Preferences structures.
* Rate limit (notes §5): a call budget per window -> 429 ``HIT_RATE_LIMIT``; no rate headers.
* Eventual consistency (blueprint "Eventual Consistency"): ``hide_for`` makes a GET 404 for a while.
* Webhooks (notes §4): create/list/delete at organization level; payload
  ``{"api_url", "config": {"action", "user_id", "endpoint_url", "webhook_id"}}``, no signature.

Everything is deterministic: ids come from counters, timestamps from a fake clock (``now``) that
only moves when data changes (one second per mutation) or when ``advance()`` is called.  The
rate-limit window alone uses the real monotonic clock.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from starlette.requests import Request
from starlette.responses import Response

from ._server import FakeService, Route, json_response

__all__ = ["FakeEventbrite"]

JSON = dict[str, Any]
SortKey = tuple[int, ...]

PUBLIC_BASE = "https://www.eventbriteapi.com/v3"
_EPOCH_DEFAULT = "2025-01-01T00:00:00Z"
_ZERO_DECIMAL = {"JPY", "KRW", "CLP", "VND", "ISK"}  # ISO 4217 exponent 0 (subset)
_INACTIVE_ORDER = {"refunded", "cancelled", "canceled", "deleted", "abandoned", "unpaid"}
_DEFAULT_WEBHOOK_ACTIONS = ["order.placed", "event.published", "event.unpublished"]


# ---------------------------------------------------------------------------------------------
# formatting helpers
# ---------------------------------------------------------------------------------------------
def _parse_utc(value: str | int | float | datetime) -> int:
    """Accept epoch seconds, an aware/naive-UTC datetime or ``YYYY-MM-DDTHH:MM:SS[Z]``."""
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


@lru_cache(maxsize=65536)
def _utc(ts: int) -> str:
    """Blueprint "Datetime": always UTC, ``2010-01-31T13:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@lru_cache(maxsize=256)
def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # pragma: no cover - minimal containers
        return UTC


def _datetime_tz(ts: int, tz: str) -> JSON:
    """Blueprint ``datetime-tz``: ``{timezone, local, utc}``."""
    local = datetime.fromtimestamp(ts, _zone(tz)).strftime("%Y-%m-%dT%H:%M:%S")
    return {"timezone": tz, "local": local, "utc": _utc(ts)}


def _money(currency: str, value: int) -> JSON:
    """Blueprint "Currency Cost": ``{currency, value (minor units), major_value, display}``."""
    return dict(_money_cached(currency, value))


@lru_cache(maxsize=8192)
def _money_cached(currency: str, value: int) -> JSON:
    exp = 0 if currency.upper() in _ZERO_DECIMAL else 2
    major = str(value) if exp == 0 else f"{value / 100:.2f}"
    return {"currency": currency, "value": value, "major_value": major, "display": f"{major} {currency}"}


def _idnum(obj_id: str) -> int:
    """Numeric sort key of an id (Eventbrite ids are numeric strings, but "not necessarily")."""
    if obj_id.isdigit():
        return int(obj_id)
    return int.from_bytes(hashlib.sha1(obj_id.encode()).digest()[:7], "big")


def _error(status: int, code: str, description: str) -> Response:
    return json_response({"status_code": status, "error": code, "error_description": description}, status)


class _BadToken(Exception):
    pass


def _encode_token(after: SortKey, page_number: int) -> str:
    raw = json.dumps({"a": list(after), "p": page_number}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(b"EBF1" + raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[SortKey, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if not raw.startswith(b"EBF1"):
            raise _BadToken
        data = json.loads(raw[4:])
        return tuple(int(x) for x in data["a"]), int(data["p"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _BadToken from exc


# ---------------------------------------------------------------------------------------------
# the fake
# ---------------------------------------------------------------------------------------------
class FakeEventbrite(FakeService):
    """Fake Eventbrite v3 API.  Use as ``with FakeEventbrite() as eb: ... eb.base_url ...``.

    Public attributes you may read or set at any time:

    * ``token`` – the accepted private token.
    * ``calls_per_hour`` – call budget per ``rate_window_seconds`` (``None`` = unlimited).
    * ``calls`` – every HTTP request received; ``rate_limited`` – number of 429 answers.
    * ``request_log`` – list of ``(method, path?query)`` strings in arrival order.
    """

    def __init__(
        self,
        token: str = "eb-test-token",
        *,
        calls_per_hour: int | None = None,
        rate_window_seconds: float = 3600.0,
        page_size: int = 50,
        now: str | int | datetime = _EPOCH_DEFAULT,
        user_id: str = "100000000001",
        default_order_status: str = "active",
        logo_requires_expand: bool = False,
        serialized_cache: bool = False,
    ) -> None:
        self.token = token
        # Benchmarks: keep each listed order's JSON text until the data changes, so the fake
        # serves pages at the speed of a real API rather than of re-rendering in Python.
        self.serialized_cache = serialized_cache
        self._fragments: dict[tuple[str, str, frozenset[str]], bytes] = {}
        self._fragments_version = -1
        self.calls_per_hour = calls_per_hour
        self.rate_window_seconds = rate_window_seconds
        self.page_size = page_size
        self.user_id = user_id
        self.default_order_status = default_order_status
        self.logo_requires_expand = logo_requires_expand
        self._now = _parse_utc(now)

        self.calls = 0
        self.rate_limited = 0
        self.request_log: list[str] = []
        self._window_start: float | None = None
        self._window_used = 0
        self._fail_queue: list[tuple[int, bool]] = []
        self._expansion_fail: list[int] = []
        self._hidden: dict[str, int] = {}

        self._seq = 0
        self.organizations: dict[str, JSON] = {}
        self.venues: dict[str, JSON] = {}
        self.events: dict[str, JSON] = {}
        self.ticket_classes: dict[str, dict[str, JSON]] = {}
        self.orders: dict[str, JSON] = {}
        self.attendees: dict[str, JSON] = {}
        self.webhooks: dict[str, JSON] = {}
        self._version = 0
        self._cache: dict[Any, tuple[int, list[SortKey], list[str]]] = {}
        super().__init__()

    # -- urls --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v3`` – use like ``https://www.eventbriteapi.com/v3``."""
        return f"{self.origin}/v3"

    def _api_base(self) -> str:
        try:
            return self.base_url
        except RuntimeError:
            return PUBLIC_BASE

    # -- clock -------------------------------------------------------------------------------
    @property
    def now(self) -> str:
        """The fake clock as an Eventbrite UTC datetime string."""
        return _utc(self._now)

    def advance(self, seconds: int) -> None:
        """Move the fake clock forward."""
        with self.lock:
            self._now += int(seconds)

    def _tick(self) -> int:
        self._now += 1
        return self._now

    def _next_id(self) -> str:
        self._seq += 1
        return str(100_000_000 + self._seq)

    def _touch(self) -> None:
        self._version += 1

    # -- fault injection -----------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, *, html: bool = False) -> None:
        """The next ``n`` API requests (after auth) fail with ``status``.

        Body is the Eventbrite error JSON (``INTERNAL_ERROR`` for 5xx), or an HTML page when
        ``html=True`` (notes §5: CloudFront sometimes answers with HTML).
        """
        with self.lock:
            self._fail_queue.extend([(status, html)] * n)

    def expansion_failed_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` requests that use ``expand`` fail with ``EXPANSION_FAILED``.

        The blueprint's error table lists ``EXPANSION_FAILED`` under HTTP 500; pass
        ``status=400`` if you need the other variant.
        """
        with self.lock:
            self._expansion_fail.extend([status] * n)

    def hide_for(self, object_id: str, n_requests: int) -> None:
        """Eventual consistency: the next ``n_requests`` GETs of this order/event/attendee 404."""
        with self.lock:
            self._hidden[str(object_id)] = n_requests

    def reset_rate_limit(self) -> None:
        """Start a fresh rate-limit window."""
        with self.lock:
            self._window_start = None
            self._window_used = 0

    # -- seeding -------------------------------------------------------------------------------
    def add_organization(
        self,
        name: str = "Fake Venue Org",
        *,
        id: str | None = None,
        vertical: str = "default",
        image_id: str | None = None,
    ) -> JSON:
        """Add an Organization (``{id, name, vertical, image_id}``)."""
        with self.lock:
            oid = id or self._next_id()
            org = {"id": oid, "name": name, "vertical": vertical, "image_id": image_id}
            self.organizations[oid] = org
            self._touch()
            return dict(org)

    def _default_org(self) -> str:
        if not self.organizations:
            self.add_organization()
        return next(iter(self.organizations))

    def add_venue(
        self,
        name: str = "The Fake Hall",
        *,
        organization_id: str | None = None,
        id: str | None = None,
        address_1: str = "1 Main Street",
        city: str = "Springfield",
        region: str = "IL",
        postal_code: str = "62701",
        country: str = "US",
        capacity: int | None = 500,
        latitude: str = "39.7817",
        longitude: str = "-89.6501",
        age_restriction: str | None = None,
    ) -> JSON:
        """Add a Venue; returns the rendered Venue Response."""
        with self.lock:
            vid = id or self._next_id()
            self.venues[vid] = {
                "id": vid,
                "name": name,
                "organization_id": organization_id or self._default_org(),
                "capacity": capacity,
                "age_restriction": age_restriction,
                "latitude": latitude,
                "longitude": longitude,
                "address": {
                    "address_1": address_1,
                    "address_2": None,
                    "city": city,
                    "region": region,
                    "postal_code": postal_code,
                    "country": country,
                    "latitude": latitude,
                    "longitude": longitude,
                    "localized_address_display": f"{address_1}, {city}, {region} {postal_code}",
                    "localized_area_display": f"{city}, {region}",
                    "localized_multi_line_address_display": [address_1, f"{city}, {region} {postal_code}"],
                },
            }
            self._touch()
            return self._render_venue(vid)

    def add_event(
        self,
        name: str = "Fake Concert",
        *,
        organization_id: str | None = None,
        venue_id: str | None = None,
        start: str | int | datetime | None = None,
        end: str | int | datetime | None = None,
        timezone: str = "America/Chicago",
        status: str = "live",
        currency: str = "USD",
        summary: str | None = None,
        description_html: str | None = None,
        logo_url: str | None = "https://img.evbuc.com/fake/logo.jpg",
        online_event: bool = False,
        capacity: int | None = 500,
        created: str | int | datetime | None = None,
        id: str | None = None,
        ticket_class: bool = True,
    ) -> JSON:
        """Add an Event (plus a default "General Admission" ticket class unless ``ticket_class=False``).

        ``start``/``end`` are UTC (epoch, aware datetime or ``...Z`` string); defaults: 30 days
        after the fake clock, 3 h long.  ``logo_url=None`` gives ``logo: null``.
        """
        with self.lock:
            eid = id or self._next_id()
            created_ts = _parse_utc(created) if created is not None else self._tick()
            start_ts = _parse_utc(start) if start is not None else self._now + 30 * 86400
            end_ts = _parse_utc(end) if end is not None else start_ts + 3 * 3600
            self.events[eid] = {
                "id": eid,
                "name": name,
                "organization_id": organization_id or self._default_org(),
                "venue_id": venue_id,
                "start": start_ts,
                "end": end_ts,
                "timezone": timezone,
                "status": status,
                "currency": currency,
                "summary": summary if summary is not None else f"{name} live on stage",
                "description_html": description_html or f"<p>{name}</p>",
                "logo_url": logo_url,
                "online_event": online_event,
                "capacity": capacity,
                "created": created_ts,
                "changed": max(created_ts, self._now),
                "published": created_ts if status != "draft" else None,
            }
            self.ticket_classes.setdefault(eid, {})
            if ticket_class:
                self.add_ticket_class(eid)
            self._touch()
            return self._render_event(eid, set())

    def update_event(self, event_id: str, **changes: Any) -> JSON:
        """Change event fields (``name``, ``status``, ``start``, ``venue_id``, ...); bumps ``changed``."""
        with self.lock:
            ev = self.events[event_id]
            for key, value in changes.items():
                if key in {"start", "end", "created"}:
                    value = _parse_utc(value)
                if key not in ev:
                    raise KeyError(f"unknown event field {key!r}")
                ev[key] = value
            ev["changed"] = changes.get("changed", self._tick())
            self._touch()
            return self._render_event(event_id, set())

    def add_ticket_class(
        self,
        event_id: str,
        name: str = "General Admission",
        *,
        price: int = 2500,
        fee: int = 250,
        capacity: int = 500,
        category: str = "admission",
        free: bool = False,
        id: str | None = None,
    ) -> JSON:
        """Add a Ticket Class to an event; ``price``/``fee`` in minor units."""
        with self.lock:
            tid = id or self._next_id()
            self.ticket_classes.setdefault(event_id, {})[tid] = {
                "id": tid,
                "event_id": event_id,
                "name": name,
                "price": 0 if free else price,
                "fee": 0 if free else fee,
                "capacity": capacity,
                "category": category,
                "free": free,
                "quantity_sold": 0,
            }
            self._touch()
            return self._render_ticket_class(event_id, tid)

    def add_order(
        self,
        event_id: str,
        *,
        email: str | None = None,
        first_name: str = "Ada",
        last_name: str = "Lovelace",
        quantity: int = 1,
        ticket_class_id: str | None = None,
        status: str = "placed",
        created: str | int | datetime | None = None,
        changed: str | int | datetime | None = None,
        has_opted_in: bool = False,
        has_contact_list: bool | None = None,
        cell_phone: str | None = None,
        attendee_profiles: list[JSON] | None = None,
        id: str | None = None,
    ) -> JSON:
        """Add an Order with ``quantity`` attendees (one Attendee per ticket, ``quantity`` 1 each).

        All attendees share the buyer profile (Eventbrite's default "collect info from the order
        owner only") unless ``attendee_profiles`` gives per-attendee ``{first_name, last_name,
        email, cell_phone}``.  ``cell_phone`` only appears in profiles when given.  Returns the
        order rendered with ``attendees`` and ``contact_list_preferences`` expanded.
        """
        with self.lock:
            ev = self.events[event_id]
            tcs = self.ticket_classes.setdefault(event_id, {})
            if ticket_class_id is None:
                if not tcs:
                    self.add_ticket_class(event_id)
                ticket_class_id = next(iter(tcs))
            oid = id or self._next_id()
            created_ts = _parse_utc(created) if created is not None else self._tick()
            changed_ts = _parse_utc(changed) if changed is not None else created_ts
            email = email or f"{first_name}.{last_name}.{oid}@example.com".lower()
            rec = {
                "id": oid,
                "event_id": event_id,
                "organization_id": ev["organization_id"],
                "created": created_ts,
                "changed": changed_ts,
                "first_name": first_name,
                "last_name": last_name,
                "email": email,
                "status": status,
                "currency": ev["currency"],
                "has_opted_in": has_opted_in,
                "has_contact_list": has_opted_in if has_contact_list is None else has_contact_list,
                "cell_phone": cell_phone,
                "attendees": [],
            }
            tc = tcs[ticket_class_id]
            for i in range(quantity):
                prof = attendee_profiles[i] if attendee_profiles and i < len(attendee_profiles) else None
                self._add_attendee(rec, tc, prof)
            self.orders[oid] = rec
            self._apply_status(rec, status, bump=False)
            self._touch()
            return self._render_order(oid, {"attendees", "contact_list_preferences"})

    def _add_attendee(self, order: JSON, tc: JSON, profile: JSON | None) -> None:
        aid = self._next_id()
        att = {
            "id": aid,
            "order_id": order["id"],
            "event_id": order["event_id"],
            "ticket_class_id": tc["id"],
            "ticket_class_name": tc["name"],
            "price": tc["price"],
            "fee": tc["fee"],
            "created": order["created"],
            "changed": order["changed"],
            "checked_in": False,
            "cancelled": False,
            "refunded": False,
            "profile": profile,
        }
        order["attendees"].append(att)
        self.attendees[aid] = att
        tc["quantity_sold"] += 1

    def _apply_status(self, rec: JSON, status: str, *, bump: bool) -> None:
        rec["status"] = status
        refunded = status == "refunded"
        cancelled = status in {"cancelled", "canceled", "deleted"}
        for att in rec["attendees"]:
            if att["refunded"] != refunded or att["cancelled"] != cancelled:
                att["refunded"], att["cancelled"] = refunded, cancelled
                if bump:
                    att["changed"] = rec["changed"]

    def update_order(self, order_id: str, **changes: Any) -> JSON:
        """Change order fields and bump ``changed`` (also on its attendees).

        Keys: ``status`` (``placed``/``refunded``/``cancelled``/...; refund/cancel also flips the
        attendees' ``refunded``/``cancelled``), ``email``, ``first_name``, ``last_name``,
        ``has_opted_in``, ``has_contact_list``, ``cell_phone``, or ``changed`` to set it explicitly.
        """
        with self.lock:
            rec = self.orders[order_id]
            changed = changes.pop("changed", None)
            rec["changed"] = _parse_utc(changed) if changed is not None else self._tick()
            for key, value in changes.items():
                if key == "status":
                    continue
                if key not in rec or key in {"id", "attendees", "event_id", "organization_id"}:
                    raise KeyError(f"unknown/immutable order field {key!r}")
                rec[key] = value
            for att in rec["attendees"]:
                att["changed"] = rec["changed"]
            if "status" in changes:
                self._apply_status(rec, changes["status"], bump=True)
            self._touch()
            return self._render_order(order_id, {"attendees", "contact_list_preferences"})

    def generate(
        self,
        events: int = 200,
        orders: int = 100_000,
        seed: int = 1,
        *,
        organization_id: str | None = None,
        max_tickets_per_order: int = 4,
        opt_in_rate: float = 0.35,
        refund_rate: float = 0.03,
        updated_rate: float = 0.05,
        distinct_buyers: float = 0.6,
        days: int = 730,
    ) -> JSON:
        """Build a large deterministic dataset quickly (100k orders in ~1–2 s).

        Creates one organization (unless given), ``events // 10 + 1`` venues, ``events`` events
        spread over the ``days`` before/around the clock, two ticket classes per event and
        ``orders`` orders (1..``max_tickets_per_order`` attendees each).  Buyers repeat across
        orders (about ``distinct_buyers * orders`` unique emails); ``opt_in_rate`` of orders have
        ``has_opted_in``; ``refund_rate`` are refunded; ``updated_rate`` have ``changed`` later
        than ``created``.  Returns ``{"organization_id", "event_ids", "venue_ids", "order_count"}``.
        """
        rng = random.Random(seed)
        firsts = [
            "Ada",
            "Grace",
            "Alan",
            "Linus",
            "Joan",
            "Miles",
            "Nina",
            "Ella",
            "Chet",
            "Billie",
            "Louis",
            "Aretha",
            "Prince",
            "Bjork",
            "Kurt",
            "Patti",
            "Iggy",
            "Debbie",
            "Joni",
            "Nick",
        ]
        lasts = [
            "Lovelace",
            "Hopper",
            "Turing",
            "Torvalds",
            "Jett",
            "Davis",
            "Simone",
            "Fitzgerald",
            "Baker",
            "Holiday",
            "Armstrong",
            "Franklin",
            "Nelson",
            "Gudmundsdottir",
            "Cobain",
            "Smith",
            "Pop",
            "Harry",
            "Mitchell",
            "Cave",
        ]
        statuses_past = ["ended", "completed", "completed", "ended", "canceled"]
        with self.lock:
            org = organization_id or self.add_organization("Generated Org")["id"]
            venue_ids = [self.add_venue(f"Venue {i + 1}", organization_id=org)["id"] for i in range(events // 10 + 1)]
            now = self._now
            span = days * 86400
            event_ids: list[str] = []
            tcs_by_event: list[list[JSON]] = []
            for i in range(events):
                start = now - span + rng.randrange(span + 180 * 86400)
                start -= start % 1800
                created = start - rng.randrange(30 * 86400, 180 * 86400)
                status = "live" if start > now else rng.choice(statuses_past)
                if start > now and rng.random() < 0.05:
                    status = "draft"
                eid = self._next_id()
                self.events[eid] = {
                    "id": eid,
                    "name": f"Generated Show {i + 1}",
                    "organization_id": org,
                    "venue_id": venue_ids[i % len(venue_ids)],
                    "start": start,
                    "end": start + 3 * 3600,
                    "timezone": "America/Chicago",
                    "status": status,
                    "currency": "USD",
                    "summary": f"Generated Show {i + 1}",
                    "description_html": f"<p>Show {i + 1}</p>",
                    "logo_url": None if i % 7 == 0 else f"https://img.evbuc.com/fake/{eid}.jpg",
                    "online_event": False,
                    "capacity": 1000,
                    "created": created,
                    "changed": created + rng.randrange(86400),
                    "published": None if status == "draft" else created,
                }
                tcs: dict[str, JSON] = {}
                for name, price, fee in (("General Admission", 2500, 250), ("VIP", 7500, 600)):
                    tid = self._next_id()
                    tcs[tid] = {
                        "id": tid,
                        "event_id": eid,
                        "name": name,
                        "price": price,
                        "fee": fee,
                        "capacity": 1000,
                        "category": "admission",
                        "free": False,
                        "quantity_sold": 0,
                    }
                self.ticket_classes[eid] = tcs
                event_ids.append(eid)
                tcs_by_event.append(list(tcs.values()))

            sellable = [i for i in range(events) if self.events[event_ids[i]]["status"] != "draft"]
            n_buyers = max(1, int(orders * distinct_buyers))
            seq = self._seq
            orders_map, attendees_map = self.orders, self.attendees
            rand, randrange = rng.random, rng.randrange
            for _ in range(orders):
                ei = sellable[randrange(len(sellable))] if sellable else 0
                eid = event_ids[ei]
                ev = self.events[eid]
                lo = ev["created"]
                hi = min(ev["start"], now)
                created = lo + randrange(max(1, hi - lo))
                buyer = randrange(n_buyers)
                first, last = firsts[buyer % 20], lasts[(buyer // 20) % 20]
                seq += 1
                oid = str(100_000_000 + seq)
                r = rand()
                status = "refunded" if r < refund_rate else "placed"
                changed = created
                if status == "refunded" or rand() < updated_rate:
                    changed = min(now, created + 1 + randrange(14 * 86400))
                opted = (buyer % 1000) < opt_in_rate * 1000
                rec = {
                    "id": oid,
                    "event_id": eid,
                    "organization_id": org,
                    "created": created,
                    "changed": changed,
                    "first_name": first,
                    "last_name": last,
                    "email": f"fan{buyer}@example.com",
                    "status": status,
                    "currency": "USD",
                    "has_opted_in": opted,
                    "has_contact_list": opted or buyer % 3 == 0,
                    "cell_phone": f"+1312555{buyer % 10000:04d}" if buyer % 4 == 0 else None,
                    "attendees": [],
                }
                tc = tcs_by_event[ei][0 if rand() < 0.8 else 1]
                refunded = status == "refunded"
                atts = rec["attendees"]
                for _k in range(1 + randrange(max_tickets_per_order)):
                    seq += 1
                    aid = str(100_000_000 + seq)
                    att = {
                        "id": aid,
                        "order_id": oid,
                        "event_id": eid,
                        "ticket_class_id": tc["id"],
                        "ticket_class_name": tc["name"],
                        "price": tc["price"],
                        "fee": tc["fee"],
                        "created": created,
                        "changed": changed,
                        "checked_in": False,
                        "cancelled": False,
                        "refunded": refunded,
                        "profile": None,
                    }
                    atts.append(att)
                    attendees_map[aid] = att
                tc["quantity_sold"] += len(atts)
                orders_map[oid] = rec
            self._seq = seq
            self._touch()
            return {"organization_id": org, "event_ids": event_ids, "venue_ids": venue_ids, "order_count": orders}

    # -- webhooks (outbound) -----------------------------------------------------------------
    def api_url_for(self, action: str, object_id: str) -> str:
        """The ``api_url`` Eventbrite puts in a webhook for ``action`` on ``object_id``."""
        base = self._api_base()
        kind = action.split(".", 1)[0]
        if kind == "order":
            return f"{base}/orders/{object_id}/"
        if kind == "event":
            return f"{base}/events/{object_id}/"
        if kind == "attendee":
            att = self.attendees.get(object_id)
            eid = att["event_id"] if att else "0"
            return f"{base}/events/{eid}/attendees/{object_id}/"
        if kind == "venue":
            return f"{base}/venues/{object_id}/"
        if kind == "ticket_class":
            eid = next((e for e, tcs in self.ticket_classes.items() if object_id in tcs), "0")
            return f"{base}/events/{eid}/ticket_classes/{object_id}/"
        if kind == "organizer":
            return f"{base}/organizers/{object_id}/"
        raise ValueError(f"unknown webhook action {action!r}")

    def webhook_payload(self, action: str, api_url: str, webhook_id: str | None = None) -> JSON:
        """Body Eventbrite POSTs: ``{"api_url", "config": {action, user_id, endpoint_url, webhook_id}}``.

        ``user_id``/``endpoint_url`` come from the registered webhook ``webhook_id`` when known.
        """
        with self.lock:
            hook = self.webhooks.get(webhook_id or "")
            if hook is None and webhook_id is None and self.webhooks:
                hook = next(iter(self.webhooks.values()))
            user_id = hook["user_id"] if hook else (next(iter(self.organizations), self.user_id))
            return {
                "api_url": api_url,
                "config": {
                    "action": action,
                    "user_id": user_id,
                    "endpoint_url": hook["endpoint_url"] if hook else "",
                    "webhook_id": hook["id"] if hook else (webhook_id or "0"),
                },
            }

    def deliver_webhook(
        self, url: str, action: str, object_id: str, *, webhook_id: str | None = None, timeout: float = 10.0
    ) -> httpx.Response:
        """POST the webhook JSON for ``action`` on ``object_id`` to ``url`` (no signature, as live).

        If ``webhook_id`` is omitted, a registered webhook whose ``endpoint_url`` equals ``url``
        is used when there is one.
        """
        with self.lock:
            if webhook_id is None:
                webhook_id = next((h["id"] for h in self.webhooks.values() if h["endpoint_url"] == url), None)
            body = self.webhook_payload(action, self.api_url_for(action, object_id), webhook_id)
        return httpx.post(url, json=body, timeout=timeout, headers={"User-Agent": "Eventbrite Hookshot 12345"})

    # -- rendering ---------------------------------------------------------------------------
    def _render_venue(self, vid: str) -> JSON:
        v = self.venues[vid]
        out = {k: v[k] for k in ("address", "id", "age_restriction", "capacity", "name", "latitude", "longitude")}
        out["address"] = dict(v["address"])
        out["resource_uri"] = f"{self._api_base()}/venues/{vid}/"
        return out

    def _render_ticket_class(self, eid: str, tid: str) -> JSON:
        tc = self.ticket_classes[eid][tid]
        cur = self.events[eid]["currency"] if eid in self.events else "USD"
        price, fee = tc["price"], tc["fee"]
        cost = (
            None
            if tc["free"]
            else {
                "actual_cost": _money(cur, price),
                "actual_fee": _money(cur, fee),
                "cost": _money(cur, price + fee),
                "fee": _money(cur, fee),
                "tax": _money(cur, 0),
            }
        )
        return {
            "resource_uri": f"{self._api_base()}/events/{eid}/ticket_classes/{tid}/",
            "id": tid,
            "event_id": eid,
            "name": tc["name"],
            "display_name": tc["name"],
            "description": None,
            "sorting": 1,
            "donation": tc["category"] == "donation",
            "free": tc["free"],
            "minimum_quantity": 1,
            "maximum_quantity": 10,
            "capacity": tc["capacity"],
            "quantity_total": tc["capacity"],
            "quantity_sold": tc["quantity_sold"],
            "hidden": False,
            "sales_channels": ["online", "atd"],
            "on_sale_status": "SOLD_OUT" if tc["quantity_sold"] >= tc["capacity"] else "AVAILABLE",
            "category": tc["category"],
            "include_fee": False,
            "cost": cost,
            "inventory_tier_id": None,
        }

    def _render_event(self, eid: str, expand: set[str]) -> JSON:
        e = self.events[eid]
        base = self._api_base()
        logo = None
        if e["logo_url"]:
            logo = {
                "crop_mask": None,
                "original": {"url": e["logo_url"], "width": 1920, "height": 960},
                "id": f"9{eid}",
                "url": e["logo_url"],
                "aspect_ratio": "2",
                "edge_color": "#000000",
                "edge_color_set": True,
            }
        out: JSON = {
            "name": {"text": e["name"], "html": e["name"]},
            "description": {"text": e["summary"], "html": e["description_html"]},
            "url": f"https://www.eventbrite.com/e/{eid}",
            "start": _datetime_tz(e["start"], e["timezone"]),
            "end": _datetime_tz(e["end"], e["timezone"]),
            "organization_id": e["organization_id"],
            "created": _utc(e["created"]),
            "changed": _utc(e["changed"]),
            "published": _utc(e["published"]) if e["published"] is not None else None,
            "capacity": e["capacity"],
            "capacity_is_custom": False,
            "status": e["status"],
            "currency": e["currency"],
            "listed": True,
            "shareable": True,
            "online_event": e["online_event"],
            "tx_time_limit": 1200,
            "hide_start_date": False,
            "hide_end_date": False,
            "locale": "en_US",
            "is_locked": False,
            "privacy_setting": "unlocked",
            "is_series": False,
            "is_series_parent": False,
            "inventory_type": "limited",
            "is_reserved_seating": False,
            "source": "coyote",
            "is_free": all(tc["free"] for tc in self.ticket_classes.get(eid, {}).values()) or False,
            "version": None,
            "summary": e["summary"],
            "logo_id": logo["id"] if logo else None,
            "organizer_id": f"7{e['organization_id']}",
            "venue_id": e["venue_id"],
            "category_id": "103",
            "subcategory_id": None,
            "format_id": "6",
            "id": eid,
            "resource_uri": f"{base}/events/{eid}/",
            "is_externally_ticketed": False,
        }
        if not out["venue_id"]:
            out.pop("venue_id")
        if not self.logo_requires_expand or "logo" in expand:
            out["logo"] = logo
        if "venue" in expand and e["venue_id"] in self.venues:
            out["venue"] = self._render_venue(e["venue_id"])
        return out

    def _profile(self, order: JSON, att: JSON) -> JSON:
        src = att["profile"] or {}
        first = src.get("first_name", order["first_name"])
        last = src.get("last_name", order["last_name"])
        prof: JSON = {
            "first_name": first,
            "last_name": last,
            "email": src.get("email", order["email"]),
            "name": f"{first} {last}",
            "addresses": {},
        }
        cell = src.get("cell_phone", order["cell_phone"])
        if cell:
            prof["cell_phone"] = cell
        return prof

    def _render_attendee(self, aid: str, expand: set[str]) -> JSON:
        a = self.attendees[aid]
        order = self.orders[a["order_id"]]
        cur = order["currency"]
        price, fee = a["price"], a["fee"]
        refunded_or_cancelled = a["refunded"] or a["cancelled"]
        out: JSON = {
            "team": None,
            "costs": {
                "base_price": _money(cur, price),
                "eventbrite_fee": _money(cur, fee),
                "gross": _money(cur, price + fee),
                "payment_fee": _money(cur, 0),
                "tax": _money(cur, 0),
            },
            "resource_uri": f"{self._api_base()}/events/{a['event_id']}/attendees/{aid}/",
            "id": aid,
            "changed": _utc(a["changed"]),
            "created": _utc(a["created"]),
            "quantity": 1,
            "variant_id": None,
            "profile": self._profile(order, a),
            "barcodes": [
                {
                    "status": "refunded" if a["refunded"] else ("used" if a["checked_in"] else "unused"),
                    "barcode": f"{order['id']}{aid}001",
                    "created": _utc(a["created"]),
                    "changed": _utc(a["changed"]),
                    "checkin_type": 0,
                    "is_printed": False,
                }
            ],
            "answers": [],
            "checked_in": a["checked_in"],
            "cancelled": a["cancelled"],
            "refunded": a["refunded"],
            "affiliate": None,
            "guestlist_id": None,
            "invited_by": None,
            "status": "Not Attending" if refunded_or_cancelled else ("Checked In" if a["checked_in"] else "Attending"),
            "ticket_class_name": a["ticket_class_name"],
            "delivery_method": "electronic",
            "event_id": a["event_id"],
            "order_id": a["order_id"],
            "ticket_class_id": a["ticket_class_id"],
        }
        if "contact_list_preferences" in expand:
            out["contact_list_preferences"] = {
                "_type": "attendee_contact_list_preferences",
                "has_contact_list": order["has_contact_list"],
                "has_opted_in": order["has_opted_in"],
            }
        if "event" in expand:
            out["event"] = self._render_event(a["event_id"], _sub(expand, "event"))
        if "order" in expand:
            out["order"] = self._render_order(a["order_id"], set())
        return out

    def _render_order(self, oid: str, expand: set[str]) -> JSON:
        o = self.orders[oid]
        cur = o["currency"]
        base_price = sum(a["price"] for a in o["attendees"])
        fee = sum(a["fee"] for a in o["attendees"])
        out: JSON = {
            "costs": {
                "base_price": _money(cur, base_price),
                "display_price": _money(cur, base_price),
                "display_fee": _money(cur, fee),
                "gross": _money(cur, base_price + fee),
                "eventbrite_fee": _money(cur, fee),
                "payment_fee": _money(cur, 0),
                "tax": _money(cur, 0),
                "display_tax": _money(cur, 0),
                "price_before_discount": _money(cur, base_price),
                "fee_components": [],
                "tax_components": [],
                "shipping_components": [],
                "has_gts_tax": False,
                "tax_name": None,
            },
            "resource_uri": f"{self._api_base()}/orders/{oid}/",
            "id": oid,
            "changed": _utc(o["changed"]),
            "created": _utc(o["created"]),
            "name": f"{o['first_name']} {o['last_name']}",
            "first_name": o["first_name"],
            "last_name": o["last_name"],
            "email": o["email"],
            "status": o["status"],
            "time_remaining": None,
            "event_id": o["event_id"],
        }
        if "attendees" in expand:
            out["attendees"] = [self._render_attendee(a["id"], set()) for a in o["attendees"]]
        if "contact_list_preferences" in expand:
            out["contact_list_preferences"] = {
                "_type": "order_contact_list_preferences",
                "has_contact_list": o["has_contact_list"],
                "has_opted_in": o["has_opted_in"],
            }
        if "event" in expand:
            out["event"] = self._render_event(o["event_id"], _sub(expand, "event"))
        return out

    # -- listing machinery ---------------------------------------------------------------------
    def _sorted(
        self, cache_key: Any, build: Callable[[], Iterable[tuple[SortKey, str]]]
    ) -> tuple[list[SortKey], list[str]]:
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] == self._version:
            return hit[1], hit[2]
        entries = sorted(build())
        keys = [k for k, _ in entries]
        ids = [i for _, i in entries]
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[cache_key] = (self._version, keys, ids)
        return keys, ids

    def _page(
        self,
        request: Request,
        list_key: str,
        cache_key: Any,
        build: Callable[[], Iterable[tuple[SortKey, str]]],
        render: Callable[[str], JSON],
        fragment_key: frozenset[str] | None = None,
    ) -> Response:
        q = request.query_params
        try:
            page_size = max(1, min(int(q.get("page_size", self.page_size)), 200))
        except ValueError:
            return _error(400, "ARGUMENTS_ERROR", "page_size must be an integer")
        keys, ids = self._sorted(cache_key, build)
        token = q.get("continuation")
        if token:
            try:
                after, page_number = _decode_token(token)
            except _BadToken:
                return _error(400, "BAD_CONTINUATION_TOKEN", "The continuation token is invalid.")
            start = bisect.bisect_right(keys, after)
        else:
            after, page_number, start = (), 1, 0
        end = min(start + page_size, len(ids))
        last_key = keys[end - 1] if end > start else after
        total = len(ids)
        pagination = {
            "object_count": total,
            "page_number": page_number,
            "page_size": page_size,
            "page_count": max(1, math.ceil(total / page_size)),
            "continuation": _encode_token(last_key, page_number + 1),
            "has_more_items": end < total,
        }
        if fragment_key is not None and self.serialized_cache:
            if self._fragments_version != self._version:
                self._fragments.clear()
                self._fragments_version = self._version
            parts = []
            for i in ids[start:end]:
                key = (list_key, i, fragment_key)
                part = self._fragments.get(key)
                if part is None:
                    part = json.dumps(render(i), separators=(",", ":"), ensure_ascii=False).encode()
                    self._fragments[key] = part
                parts.append(part)
            head = json.dumps({"pagination": pagination}, separators=(",", ":")).encode()
            raw = head[:-1] + b',"' + list_key.encode() + b'":[' + b",".join(parts) + b"]}"
            return Response(raw, media_type="application/json")
        return json_response({"pagination": pagination, list_key: [render(i) for i in ids[start:end]]})

    # -- routing -------------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        d = r"(?P<{}>[^/]+)"
        oid, eid, aid, tid, vid, wid = (d.format(n) for n in ("org", "event", "att", "tc", "venue", "hook"))
        r = Route.make
        return [
            r("GET", r"/v3/users/me/", self._h_me),
            r("GET", r"/v3/users/me/organizations/", self._h_my_orgs),
            r("GET", rf"/v3/organizations/{oid}/events/", self._h_org_events),
            r("GET", rf"/v3/organizations/{oid}/venues/", self._h_org_venues),
            r("GET", rf"/v3/organizations/{oid}/orders/", self._h_org_orders),
            r("GET", rf"/v3/organizations/{oid}/attendees/", self._h_org_attendees),
            r("GET", rf"/v3/organizations/{oid}/webhooks/", self._h_list_webhooks),
            r("POST", rf"/v3/organizations/{oid}/webhooks/", self._h_create_webhook),
            r("DELETE", rf"/v3/webhooks/{wid}/", self._h_delete_webhook),
            r("GET", rf"/v3/events/{eid}/", self._h_event),
            r("GET", rf"/v3/events/{eid}/ticket_classes/", self._h_ticket_classes),
            r("GET", rf"/v3/events/{eid}/ticket_classes/{tid}/", self._h_ticket_class),
            r("GET", rf"/v3/events/{eid}/orders/", self._h_event_orders),
            r("GET", rf"/v3/events/{eid}/attendees/", self._h_event_attendees),
            r("GET", rf"/v3/events/{eid}/attendees/{aid}/", self._h_attendee),
            r("GET", rf"/v3/venues/{vid}/", self._h_venue),
            r("GET", rf"/v3/orders/{d.format('order')}/", self._h_order),
        ]

    def _authorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization")
        supplied: str | None = None
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                return _error(400, "INVALID_AUTH_HEADER", "The Authorization header is invalid.")
            supplied = value.strip()
        else:
            supplied = request.query_params.get("token")
        if not supplied:
            return _error(401, "NO_AUTH", "An OAuth token is required for all requests.")
        if supplied != self.token:
            return _error(401, "INVALID_AUTH", "The OAuth token you provided was invalid.")
        return None

    def _rate_check(self) -> Response | None:
        if self.calls_per_hour is None:
            return None
        now = time.monotonic()
        if self._window_start is None or now - self._window_start >= self.rate_window_seconds:
            self._window_start, self._window_used = now, 0
        if self._window_used >= self.calls_per_hour:
            self.rate_limited += 1
            return _error(
                429,
                "HIT_RATE_LIMIT",
                "Hourly rate limit has been reached for this token. Default rate limits are 2,000 calls per hour.",
            )
        self._window_used += 1
        return None

    def _dispatch(self, request: Request, route: Route | None, params: dict[str, str]) -> Response:
        self.calls += 1
        qs = request.url.query
        self.request_log.append(f"{request.method} {request.url.path}{'?' + qs if qs else ''}")
        denied = self._authorized(request)
        if denied is not None:
            return denied
        limited = self._rate_check()
        if limited is not None:
            return limited
        if self._fail_queue:
            status, html = self._fail_queue.pop(0)
            if html:
                return Response(
                    f"<html><body><h1>{status} ERROR</h1>The request could not be satisfied.</body></html>",
                    status,
                    media_type="text/html",
                )
            code = (
                "INTERNAL_ERROR"
                if status >= 500
                else {400: "BAD_REQUEST", 403: "NOT_AUTHORIZED", 404: "NOT_FOUND"}.get(status, "ERROR")
            )
            return _error(status, code, "Injected failure.")
        if route is None:
            return _error(404, "NOT_FOUND", "The path you requested does not exist.")
        expand = _parse_expand(request)
        if expand and self._expansion_fail:
            status = self._expansion_fail.pop(0)
            return _error(status, "EXPANSION_FAILED", "Expansion failed; retry without expansions.")
        if request.method in {"GET", "HEAD"}:
            for key in ("order", "event", "att"):
                obj = params.get(key)
                if (
                    obj is not None
                    and self._hidden.get(obj, 0) > 0
                    and (key != "event" or route.handler == self._h_event)
                ):
                    self._hidden[obj] -= 1
                    return _error(404, "NOT_FOUND", "The requested object does not exist.")
        request.state.expand = expand
        return route.handler(request, **params)

    # -- handlers --------------------------------------------------------------------------------
    def _h_me(self, request: Request) -> Response:
        return json_response(
            {
                "emails": [{"email": "owner@fakevenue.example", "verified": True, "primary": True}],
                "id": self.user_id,
                "name": "Fake Owner",
                "first_name": "Fake",
                "last_name": "Owner",
                "is_public": False,
                "image_id": None,
            }
        )

    def _h_my_orgs(self, request: Request) -> Response:
        return self._page(
            request,
            "organizations",
            ("orgs",),
            lambda: (((_idnum(o),), o) for o in self.organizations),
            lambda o: dict(self.organizations[o]),
        )

    def _org_or_404(self, org: str) -> Response | None:
        if org not in self.organizations:
            return _error(404, "NOT_FOUND", "The organization you requested does not exist.")
        return None

    def _h_org_events(self, request: Request, org: str) -> Response:
        if (missing := self._org_or_404(org)) is not None:
            return missing
        q = request.query_params
        raw_status = q.get("status", "all")
        statuses = {s.strip() for s in raw_status.split(",") if s.strip()}
        if "all" in statuses:
            statuses = set()
        order_by = q.get("order_by", "start_asc")
        time_filter = q.get("time_filter", "all")
        ids_filter = set(q.getlist("event_ids")) or None
        expand = request.state.expand
        now = self._now

        def build() -> Iterable[tuple[SortKey, str]]:
            for e in self.events.values():
                if e["organization_id"] != org or (statuses and e["status"] not in statuses):
                    continue
                if ids_filter is not None and e["id"] not in ids_filter:
                    continue
                if time_filter == "past" and e["end"] >= now:
                    continue
                if time_filter == "current_future" and e["end"] < now:
                    continue
                n = _idnum(e["id"])
                if order_by == "start_desc":
                    yield (-e["start"], -n), e["id"]
                elif order_by == "created_asc":
                    yield (e["created"], n), e["id"]
                elif order_by == "created_desc":
                    yield (-e["created"], -n), e["id"]
                else:
                    yield (e["start"], n), e["id"]

        key = ("events", org, frozenset(statuses), order_by, time_filter, frozenset(ids_filter or ()), now)
        return self._page(request, "events", key, build, lambda i: self._render_event(i, expand))

    def _h_org_venues(self, request: Request, org: str) -> Response:
        if (missing := self._org_or_404(org)) is not None:
            return missing
        return self._page(
            request,
            "venues",
            ("venues", org),
            lambda: (((_idnum(v),), v) for v, rec in self.venues.items() if rec["organization_id"] == org),
            self._render_venue,
        )

    def _order_filter(self, request: Request) -> tuple[set[str] | None, int | None, Response | None]:
        q = request.query_params
        status = q.get("status", self.default_order_status)
        if status not in {"active", "inactive", "both", "all_not_deleted", "all"}:
            return None, None, _error(400, "ARGUMENTS_ERROR", f"status: invalid value {status!r}")
        changed_since = None
        if q.get("changed_since"):
            try:
                changed_since = _parse_utc(q["changed_since"])
            except ValueError:
                return (
                    None,
                    None,
                    _error(400, "ARGUMENTS_ERROR", "changed_since: must be a datetime like 2010-01-31T13:00:00Z"),
                )
        return (
            {
                "active": {"a"},
                "inactive": {"i"},
                "both": {"a", "i", "d"},
                "all": {"a", "i", "d"},
                "all_not_deleted": {"a", "i"},
            }[status],
            changed_since,
            None,
        )

    @staticmethod
    def _order_class(status: str) -> str:
        if status == "deleted":
            return "d"
        return "i" if status in _INACTIVE_ORDER else "a"

    def _orders_page(self, request: Request, scope: tuple[str, str]) -> Response:
        classes, changed_since, err = self._order_filter(request)
        if err is not None or classes is None:
            return err or _error(400, "ARGUMENTS_ERROR", "bad arguments")
        q = request.query_params
        only = {e.lower() for e in q.getlist("only_emails")} or None
        exclude = {e.lower() for e in q.getlist("exclude_emails")}
        field = "organization_id" if scope[0] == "org" else "event_id"
        since = changed_since if changed_since is not None else -(2**62)
        cls = self._order_class

        def build() -> Iterable[tuple[SortKey, str]]:
            for o in self.orders.values():
                if o[field] != scope[1] or o["changed"] < since or cls(o["status"]) not in classes:
                    continue
                if only is not None and o["email"].lower() not in only:
                    continue
                if exclude and o["email"].lower() in exclude:
                    continue
                yield (o["changed"], _idnum(o["id"])), o["id"]

        key = ("orders", scope, frozenset(classes), since, frozenset(only or ()), frozenset(exclude))
        expand = request.state.expand
        return self._page(
            request, "orders", key, build, lambda i: self._render_order(i, expand), fragment_key=frozenset(expand)
        )

    def _h_org_orders(self, request: Request, org: str) -> Response:
        if (missing := self._org_or_404(org)) is not None:
            return missing
        return self._orders_page(request, ("org", org))

    def _h_event_orders(self, request: Request, event: str) -> Response:
        if event not in self.events:
            return _error(404, "NOT_FOUND", "The event you requested does not exist.")
        return self._orders_page(request, ("event", event))

    def _attendees_page(self, request: Request, scope: tuple[str, str]) -> Response:
        q = request.query_params
        status = q.get("status")
        if status not in {None, "attending", "not_attending", "unpaid"}:
            return _error(400, "ARGUMENTS_ERROR", f"status: invalid value {status!r}")
        since = -(2**62)
        if q.get("changed_since"):
            try:
                since = _parse_utc(q["changed_since"])
            except ValueError:
                return _error(400, "ARGUMENTS_ERROR", "changed_since: invalid datetime")
        field = "organization_id" if scope[0] == "org" else "event_id"

        def build() -> Iterable[tuple[SortKey, str]]:
            for o in self.orders.values():
                if o[field] != scope[1]:
                    continue
                for a in o["attendees"]:
                    if a["changed"] < since:
                        continue
                    attending = not (a["refunded"] or a["cancelled"])
                    if status == "attending" and not attending:
                        continue
                    if status == "not_attending" and attending:
                        continue
                    if status == "unpaid":
                        continue
                    yield (a["changed"], _idnum(a["id"])), a["id"]

        key = ("attendees", scope, status, since)
        expand = request.state.expand
        return self._page(request, "attendees", key, build, lambda i: self._render_attendee(i, expand))

    def _h_org_attendees(self, request: Request, org: str) -> Response:
        if (missing := self._org_or_404(org)) is not None:
            return missing
        return self._attendees_page(request, ("org", org))

    def _h_event_attendees(self, request: Request, event: str) -> Response:
        if event not in self.events:
            return _error(404, "NOT_FOUND", "The event you requested does not exist.")
        return self._attendees_page(request, ("event", event))

    def _h_attendee(self, request: Request, event: str, att: str) -> Response:
        a = self.attendees.get(att)
        if a is None or a["event_id"] != event:
            return _error(404, "NOT_FOUND", "The attendee you requested does not exist.")
        return json_response(self._render_attendee(att, request.state.expand))

    def _h_event(self, request: Request, event: str) -> Response:
        if event not in self.events:
            return _error(404, "NOT_FOUND", "The event you requested does not exist.")
        return json_response(self._render_event(event, request.state.expand))

    def _h_ticket_classes(self, request: Request, event: str) -> Response:
        if event not in self.events:
            return _error(404, "NOT_FOUND", "The event you requested does not exist.")
        return self._page(
            request,
            "ticket_classes",
            ("tcs", event),
            lambda: (((_idnum(t),), t) for t in self.ticket_classes.get(event, {})),
            lambda t: self._render_ticket_class(event, t),
        )

    def _h_ticket_class(self, request: Request, event: str, tc: str) -> Response:
        if tc not in self.ticket_classes.get(event, {}):
            return _error(404, "NOT_FOUND", "The ticket class you requested does not exist.")
        return json_response(self._render_ticket_class(event, tc))

    def _h_venue(self, request: Request, venue: str) -> Response:
        if venue not in self.venues:
            return _error(404, "NOT_FOUND", "The venue you requested does not exist.")
        return json_response(self._render_venue(venue))

    def _h_order(self, request: Request, order: str) -> Response:
        if order not in self.orders:
            return _error(404, "NOT_FOUND", "The order you requested does not exist.")
        return json_response(self._render_order(order, request.state.expand))

    def _h_list_webhooks(self, request: Request, org: str) -> Response:
        if (missing := self._org_or_404(org)) is not None:
            return missing
        return self._page(
            request,
            "webhooks",
            ("webhooks", org),
            lambda: (((_idnum(w),), w) for w, h in self.webhooks.items() if h["user_id"] == org),
            lambda w: dict(self.webhooks[w]),
        )

    def _h_create_webhook(self, request: Request, org: str) -> Response:
        if (missing := self._org_or_404(org)) is not None:
            return missing
        body = _request_fields(request)
        endpoint_url = str(body.get("endpoint_url") or "").strip()
        if not endpoint_url:
            return _error(400, "ARGUMENTS_ERROR", "There are errors with your arguments: endpoint_url - MISSING")
        actions_raw = body.get("actions") or ""
        if isinstance(actions_raw, list):
            actions = [str(a).strip() for a in actions_raw if str(a).strip()]
        else:
            actions = [a.strip() for a in str(actions_raw).split(",") if a.strip()]
        wid = self._next_id()
        hook = {
            "id": wid,
            "resource_uri": f"{self._api_base()}/webhooks/{wid}/",
            "endpoint_url": endpoint_url,
            "actions": actions or list(_DEFAULT_WEBHOOK_ACTIONS),
            "event_id": str(body["event_id"]) if body.get("event_id") else None,
            "user_id": org,
            "created": _utc(self._tick()),
        }
        self.webhooks[wid] = hook
        self._touch()
        return json_response(dict(hook), headers={"Eventbrite-API-Waypoint-Token": f"wp{self._version}"})

    def _h_delete_webhook(self, request: Request, hook: str) -> Response:
        if self.webhooks.pop(hook, None) is None:
            return _error(404, "NOT_FOUND", "The webhook you requested does not exist.")
        self._touch()
        return json_response({"success": True})


def _sub(expand: set[str], prefix: str) -> set[str]:
    """Nested v1 expansions: ``event.venue`` -> ``{"venue"}`` for the nested event."""
    p = prefix + "."
    return {e[len(p) :] for e in expand if e.startswith(p)} | {e for e in expand if e in {"venue", "logo"}}


def _parse_expand(request: Request) -> set[str]:
    """Collect v1 (``expand=a,b.c``) and v2 (``expand.order=a``) expansion names."""
    out: set[str] = set()
    for key, value in request.query_params.multi_items():
        if key == "expand" or key.startswith("expand."):
            out.update(v.strip() for v in value.split(",") if v.strip())
    return out


def _request_fields(request: Request) -> dict[str, Any]:
    """Body of a POST as a dict: JSON object, or form-urlencoded (Eventbrite accepts both)."""
    raw: bytes = request.state.body
    ctype = request.headers.get("content-type", "")
    if not raw:
        return {}
    if "json" in ctype or raw.lstrip().startswith(b"{"):
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        if isinstance(data, dict) and isinstance(data.get("webhook"), dict):
            data = data["webhook"]
        return data if isinstance(data, dict) else {}
    parsed = parse_qs(raw.decode("utf-8", "replace"))
    return {k.removeprefix("webhook."): v[-1] for k, v in parsed.items()}
