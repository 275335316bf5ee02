"""In-process fake of the Ticket Tailor API (``https://api.tickettailor.com/v1``).

Reproduces, from the Ticket Tailor API reference (reference ``003``) and
``notes/tickettailor_ticketor.md`` (section A):

* Authentication: HTTP Basic, API key as username, no password needed.  Bad/missing key -> 401
  with the documented error body ``{"status", "error_code", "message"}`` ("Errors").
* Pagination ("Pagination"): ``starting_after`` / ``ending_before`` object-id cursors, newest first
  ("reverse chronological order"; ``ending_before`` wins when both are given), ``limit`` max 100.
  Envelope ``{"data": [...], "links": {"next", "previous"}}``.  By default ``links`` are built the
  way the live API was observed to build them (notes A2): path **without** ``/v1`` and dotted
  filters rewritten with underscores (``created_at_gte``) – which this fake, like a strict server,
  does not understand – so clients must rebuild next URLs.  ``links_style="documented"`` gives the
  documented ``/v1/orders?...&starting_after=or_120`` form instead.
* Rate limiting ("Rate limiting"; notes A3): ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining``,
  ``X-Rate-Limit-Reset`` (seconds left in the window) on every response; 429 plus ``Retry-After``
  when the per-window budget is exhausted.  Window length is configurable (e.g. 1 s in tests).
* Endpoints: ``GET /v1/ping`` (``{"version": "pong"}``), ``GET /v1/events``, ``GET /v1/events/{id}``,
  ``GET /v1/orders`` (``created_at`` + ``.gt/.gte/.lt/.lte``, ``event_id``, ``event_series_id``,
  ``status``, ``email``, ``name``, ``txn_id``, ``referral_tag``), ``GET /v1/orders/{id}``,
  ``GET /v1/issued_tickets`` (``event_id``, ``order_id``, ``status`` valid|voided, ``created_at.*``),
  ``GET /v1/issued_tickets/{id}``.
* Objects as in the reference's Order / Event / IssuedTicket schemas, with the live-only extras the
  notes list (order ``marketing_opt_in``, ``credited_out_amount``, ``tax_treatment``,
  ``event_summary.event_series_id``/``venue``; line item ``item_id``; event ``venue.country``).
  Booleans are the strings ``"true"``/``"false"``, times are unix seconds, money is minor units,
  currency codes are lowercase.
* Webhooks ("Webhooks" -> "Structure", "Security"): JSON envelope ``{id, created_at, event,
  resource_url, payload}`` signed with header ``Tickettailor-Webhook-Signature:
  t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}{raw_body}")>``.

Deterministic: ids are counters, the data clock is fixed (``now``) and only the rate-limit window
and default webhook timestamps use real time.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import json
import math
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from starlette.requests import Request
from starlette.responses import Response

from ._server import FakeService, Route, json_response

__all__ = ["FakeTicketTailor", "SIGNATURE_HEADER", "sign"]

JSON = dict[str, Any]
SIGNATURE_HEADER = "Tickettailor-Webhook-Signature"
PUBLIC_BASE = "https://api.tickettailor.com"
_MESSAGES = {
    400: ("Bad Request", "The request was invalid, often due to a missing a required parameter."),
    401: ("Unauthorized", "Your request was not authenticated correctly."),
    403: ("Forbidden", "You do not have permission to perform the request."),
    404: ("Not Found", "The requested resource does not exist."),
    422: ("Validation error", "A validation error occurred."),
    429: ("Too Many Requests", "Too many requests hit the API too quickly."),
}
_OPS = {"": "eq", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}


def sign(secret: str | bytes, timestamp: int, raw_body: bytes) -> str:
    """``hex(HMAC-SHA256(secret, f"{timestamp}{raw_body}"))`` – the documented signature."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, str(timestamp).encode() + raw_body, hashlib.sha256).hexdigest()


def _error(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> Response:
    code, default = _MESSAGES.get(
        status, ("Internal Server Error", "An error occurred on Ticket Tailor's end with our API.")
    )
    return json_response({"status": status, "error_code": code, "message": message or default}, status, headers)


@lru_cache(maxsize=256)
def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # pragma: no cover
        return UTC


def _date_obj(ts: int, tz: str) -> JSON:
    """TT date object: ``{date, formatted, iso (local+offset), time, timezone (offset), unix}``."""
    return dict(_date_obj_cached(ts, tz))


@lru_cache(maxsize=8192)
def _date_obj_cached(ts: int, tz: str) -> JSON:
    dt = datetime.fromtimestamp(ts, _zone(tz))
    off = dt.strftime("%z")
    offset = f"{off[:3]}:{off[3:]}" if off else "+00:00"
    hour12 = dt.strftime("%I").lstrip("0") or "12"
    return {
        "date": dt.strftime("%Y-%m-%d"),
        "formatted": f"{dt.strftime('%a')} {dt.day} {dt.strftime('%b %Y')} {hour12}:{dt.strftime('%M %p')}",
        "iso": dt.strftime("%Y-%m-%dT%H:%M:%S") + offset,
        "time": dt.strftime("%H:%M"),
        "timezone": offset,
        "unix": ts,
    }


def _to_unix(value: int | float | str | datetime) -> int:
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    s = value.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(s)
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


def _num(obj_id: str) -> int:
    """Numeric part of a prefixed id (``or_123`` -> 123); ValueError if malformed."""
    prefix, sep, digits = obj_id.partition("_")
    if not sep or not prefix.isalpha() or not digits.isdigit():
        raise ValueError(obj_id)
    return int(digits)


def _tf(flag: bool) -> str:
    return "true" if flag else "false"


class FakeTicketTailor(FakeService):
    """Fake Ticket Tailor box office API.  ``with FakeTicketTailor() as tt: tt.base_url ...``.

    Readable/settable attributes: ``api_key``, ``rate_limit`` (requests per window, ``None`` =
    unlimited), ``rate_window_seconds``, ``links_style``, ``calls`` (all requests received),
    ``rate_limited`` (429s sent), ``request_log`` (``"GET /v1/orders?..."`` strings).
    """

    def __init__(
        self,
        api_key: str = "sk_1000_1000_VGlja2V0VGFpbG9y",
        *,
        rate_limit: int | None = 2000,
        rate_window_seconds: float = 3600.0,
        links_style: Literal["live", "documented"] = "live",
        default_limit: int = 100,
        ascending_pages: bool = False,
        now: int | str | datetime = "2025-01-01T00:00:00Z",
        timezone_name: str = "Europe/London",
        currency: str = "gbp",
    ) -> None:
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.links_style = links_style
        self.default_limit = default_limit
        self.ascending_pages = ascending_pages  # notes A2: one live page came back ascending
        self.timezone_name = timezone_name
        self.currency = currency
        self._now = _to_unix(now)
        self.calls = 0
        self.rate_limited = 0
        self.request_log: list[str] = []
        self._window_start: float | None = None
        self._window_used = 0
        self._fail_queue: list[int] = []
        self._seq: dict[str, int] = {}
        self._delivery_seq = 0
        self.events: dict[str, JSON] = {}
        self.orders: dict[str, JSON] = {}
        self.issued_tickets: dict[str, JSON] = {}
        self._version = 0
        self._cache: dict[Any, tuple[int, list[int], list[str]]] = {}
        super().__init__()

    # -- urls / clock ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` – the equivalent of ``https://api.tickettailor.com``."""
        return self.origin

    def _public(self) -> str:
        try:
            return self.origin
        except RuntimeError:
            return PUBLIC_BASE

    @property
    def now(self) -> int:
        """The fake data clock (unix seconds)."""
        return self._now

    def advance(self, seconds: int) -> None:
        with self.lock:
            self._now += int(seconds)

    def _tick(self) -> int:
        self._now += 1
        return self._now

    def _next(self, prefix: str, start: int = 1000) -> str:
        n = self._seq.get(prefix, start) + 1
        self._seq[prefix] = n
        return f"{prefix}_{n}"

    def _touch(self) -> None:
        self._version += 1

    # -- fault injection / limits --------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` authenticated requests answer ``status`` with the TT error body."""
        with self.lock:
            self._fail_queue.extend([status] * n)

    def reset_rate_limit(self) -> None:
        with self.lock:
            self._window_start, self._window_used = None, 0

    # -- seeding -------------------------------------------------------------------------------
    def add_event(
        self,
        name: str = "Fake Gig",
        *,
        start: int | str | datetime | None = None,
        end: int | str | datetime | None = None,
        event_series_id: str | None = None,
        status: str = "published",
        currency: str | None = None,
        timezone_name: str | None = None,
        venue_name: str | None = "The Fake Hall",
        venue_postal_code: str | None = "E8 1AA",
        venue_country: str | None = "GB",
        header_image: str | None = "https://cdn.tickettailor.test/header.jpg",
        thumbnail_image: str | None = "https://cdn.tickettailor.test/thumb.jpg",
        description: str | None = "<p>A fake gig</p>",
        hidden: bool = False,
        private: bool = False,
        online_event: bool = False,
        unavailable: bool = False,
        ticket_types: list[JSON] | None = None,
        created_at: int | str | datetime | None = None,
        id: str | None = None,
    ) -> JSON:
        """Add an event occurrence.  ``ticket_types`` items: ``{name, price, booking_fee,
        quantity_total}`` (defaults: one "General Admission" at 1500 minor units).
        ``start``/``end`` default to 30 days after ``now`` (+3 h).  Returns the rendered event."""
        with self.lock:
            eid = id or self._next("ev")
            series = event_series_id or self._next("es")
            start_ts = _to_unix(start) if start is not None else self._now + 30 * 86400
            tts = []
            for spec in ticket_types or [{"name": "General Admission", "price": 1500}]:
                tts.append(
                    {
                        "id": spec.get("id") or self._next("tt"),
                        "name": spec.get("name", "Ticket"),
                        "price": int(spec.get("price", 1500)),
                        "booking_fee": int(spec.get("booking_fee", 0)),
                        "quantity_total": int(spec.get("quantity_total", 500)),
                        "quantity_issued": 0,
                        "group_id": spec.get("group_id"),
                        "status": spec.get("status", "on_sale"),
                    }
                )
            self.events[eid] = {
                "id": eid,
                "event_series_id": series,
                "name": name,
                "start": start_ts,
                "end": _to_unix(end) if end is not None else start_ts + 3 * 3600,
                "status": status,
                "currency": currency or self.currency,
                "timezone": timezone_name or self.timezone_name,
                "venue_name": venue_name,
                "venue_postal_code": venue_postal_code,
                "venue_country": venue_country,
                "header": header_image,
                "thumbnail": thumbnail_image,
                "description": description,
                "hidden": hidden,
                "private": private,
                "online_event": online_event,
                "unavailable": unavailable,
                "created_at": _to_unix(created_at) if created_at is not None else self._tick(),
                "ticket_types": tts,
                "total_orders": 0,
            }
            self._touch()
            return self._render_event(eid)

    def update_event(self, event_id: str, **changes: Any) -> JSON:
        """Change raw event fields (``name``, ``status``, ``start``, ``unavailable``, ...)."""
        with self.lock:
            ev = self.events[event_id]
            for k, v in changes.items():
                if k not in ev:
                    raise KeyError(f"unknown event field {k!r}")
                ev[k] = _to_unix(v) if k in {"start", "end", "created_at"} else v
            self._touch()
            return self._render_event(event_id)

    def add_order(
        self,
        event_id: str,
        *,
        email: str | None = None,
        first_name: str = "Ada",
        last_name: str = "Lovelace",
        phone: str | None = "07123456789",
        tickets: list[tuple[str, int]] | None = None,
        quantity: int = 1,
        status: str = "completed",
        created_at: int | str | datetime | None = None,
        marketing_opt_in: bool | None = None,
        custom_questions: list[JSON] | None = None,
        address: JSON | None = None,
        referral_tag: str | None = None,
        payment_type: str = "stripe",
        id: str | None = None,
    ) -> JSON:
        """Add an order.  ``tickets`` = ``[(ticket_type_id, qty), ...]`` (default: ``quantity``
        of the event's first ticket type).  One issued ticket is created per unit.
        ``marketing_opt_in`` defaults to ``None`` (the live value observed).  Returns the order."""
        with self.lock:
            ev = self.events[event_id]
            oid = id or self._next("or")
            created = _to_unix(created_at) if created_at is not None else self._tick()
            lines = tickets or [(ev["ticket_types"][0]["id"], quantity)]
            email = email or f"{first_name}.{last_name}.{_num(oid)}@example.com".lower()
            rec = self._make_order(
                oid,
                ev,
                created,
                first_name,
                last_name,
                email,
                phone,
                lines,
                status,
                marketing_opt_in,
                custom_questions or [],
                address,
                referral_tag,
                payment_type,
            )
            self.orders[oid] = rec
            self._touch()
            return self._render_order(oid)

    def _make_order(
        self,
        oid: str,
        ev: JSON,
        created: int,
        first: str,
        last: str,
        email: str,
        phone: str | None,
        lines: list[tuple[str, int]],
        status: str,
        opt_in: bool | None,
        questions: list[JSON],
        address: JSON | None,
        referral_tag: str | None,
        payment_type: str,
    ) -> JSON:
        tts = {t["id"]: t for t in ev["ticket_types"]}
        line_items: list[JSON] = []
        tickets: list[JSON] = []
        for tt_id, qty in lines:
            tt = tts[tt_id]
            line_items.append(
                {
                    "id": self._next("li"),
                    "item_id": tt_id,
                    "description": tt["name"],
                    "value": tt["price"],
                    "booking_fee": tt["booking_fee"],
                    "quantity": qty,
                }
            )
            for _ in range(qty):
                tid = self._next("it")
                ticket = {
                    "id": tid,
                    "order_id": oid,
                    "event_id": ev["id"],
                    "ticket_type_id": tt_id,
                    "description": tt["name"],
                    "barcode": f"BC{_num(tid)}",
                    "created_at": created,
                    "updated_at": created,
                    "voided_at": None,
                    "status": "valid",
                    "checked_in": False,
                }
                tickets.append(ticket)
                self.issued_tickets[tid] = ticket
            tt["quantity_issued"] += qty
        ev["total_orders"] += 1
        return {
            "id": oid,
            "event_id": ev["id"],
            "event_series_id": ev["event_series_id"],
            "created_at": created,
            "status": status,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "custom_questions": questions,
            "address": address or {"address_1": None, "address_2": None, "address_3": None, "postal_code": None},
            "line_items": line_items,
            "tickets": tickets,
            "refund_amount": 0,
            "marketing_opt_in": opt_in,
            "referral_tag": referral_tag,
            "txn_id": f"TXN{_num(oid)}",
            "payment_type": "no_cost" if not any(li["value"] for li in line_items) else payment_type,
            "currency": ev["currency"],
        }

    def update_order(self, order_id: str, **changes: Any) -> JSON:
        """Change order fields: ``status``, ``refund_amount``, ``email``, ``first_name``,
        ``last_name``, ``phone``, ``marketing_opt_in``, ``custom_questions``, ``referral_tag``.
        ``void_tickets=True`` also voids its issued tickets (status ``voided``).  TT orders have no
        ``updated_at``, so nothing else visibly changes – exactly why polling misses updates."""
        with self.lock:
            rec = self.orders[order_id]
            void = changes.pop("void_tickets", False)
            for k, v in changes.items():
                if k not in rec or k in {"id", "event_id", "tickets", "line_items"}:
                    raise KeyError(f"unknown/immutable order field {k!r}")
                rec[k] = v
            if void:
                ts = self._tick()
                for t in rec["tickets"]:
                    t.update(status="voided", voided_at=ts, updated_at=ts)
            self._touch()
            return self._render_order(order_id)

    def cancel_order(self, order_id: str, *, refund: bool = True) -> JSON:
        """What a refund looks like live (notes A7): ``status="cancelled"``, ``refund_amount`` =
        total (if ``refund``), and every issued ticket ``voided``."""
        with self.lock:
            total = self._totals(self.orders[order_id])[2]
            return self.update_order(
                order_id, status="cancelled", refund_amount=total if refund else 0, void_tickets=True
            )

    def generate(
        self,
        events: int = 50,
        orders: int = 10_000,
        seed: int = 1,
        *,
        opt_in_rate: float = 0.3,
        cancel_rate: float = 0.03,
        days: int = 365,
        distinct_buyers: float = 0.6,
    ) -> JSON:
        """Deterministic bulk data: ``events`` occurrences (grouped 3 per series), ``orders``
        orders with 1–4 tickets each, ``created_at`` increasing with the order id, repeat buyers,
        ``marketing_opt_in`` True/False/None mix, ``cancel_rate`` cancelled+refunded orders.
        Returns ``{"event_ids", "order_ids_range": (first, last)}``."""
        rng = random.Random(seed)
        names = ["Ada", "Grace", "Alan", "Joan", "Miles", "Nina", "Ella", "Chet", "Billie", "Louis"]
        surnames = ["Lovelace", "Hopper", "Turing", "Jett", "Davis", "Simone", "Fitzgerald", "Baker"]
        with self.lock:
            ev_ids: list[str] = []
            series = ""
            for i in range(events):
                if i % 3 == 0:
                    series = self._next("es")
                start = self._now - days * 86400 + rng.randrange(days * 86400 + 90 * 86400)
                start -= start % 1800
                ev = self.add_event(
                    f"Generated Gig {i + 1}",
                    start=start,
                    event_series_id=series,
                    created_at=start - 120 * 86400,
                    ticket_types=[
                        {"name": "General Admission", "price": 1500, "booking_fee": 150},
                        {"name": "VIP", "price": 4500, "booking_fee": 300},
                    ],
                    header_image=None if i % 9 == 0 else f"https://cdn.tickettailor.test/{i}.jpg",
                )
                ev_ids.append(ev["id"])
            first_created = self._now - days * 86400
            step = max(1, (days * 86400) // max(1, orders))
            n_buyers = max(1, int(orders * distinct_buyers))
            first_id = last_id = ""
            for k in range(orders):
                ev = self.events[ev_ids[rng.randrange(len(ev_ids))]]
                buyer = rng.randrange(n_buyers)
                tt = ev["ticket_types"][0 if rng.random() < 0.8 else 1]
                oid = self._next("or")
                first_id = first_id or oid
                last_id = oid
                r = rng.random()
                opt = True if r < opt_in_rate else (None if r < opt_in_rate + 0.2 else False)
                rec = self._make_order(
                    oid,
                    ev,
                    first_created + k * step,
                    names[buyer % 10],
                    surnames[(buyer // 10) % 8],
                    f"fan{buyer}@example.com",
                    f"0712345{buyer % 10000:04d}" if buyer % 3 else None,
                    [(tt["id"], 1 + rng.randrange(4))],
                    "completed",
                    opt,
                    [],
                    None,
                    "website" if buyer % 5 == 0 else None,
                    "stripe",
                )
                self.orders[oid] = rec
                if rng.random() < cancel_rate:
                    rec["status"] = "cancelled"
                    rec["refund_amount"] = self._totals(rec)[2]
                    for t in rec["tickets"]:
                        t.update(
                            status="voided", voided_at=rec["created_at"] + 3600, updated_at=rec["created_at"] + 3600
                        )
            self._now = max(self._now, first_created + orders * step)
            self._touch()
            return {"event_ids": ev_ids, "order_ids_range": (first_id, last_id)}

    # -- webhooks ------------------------------------------------------------------------------
    def resource_url_for(self, payload_obj: JSON) -> str:
        kind = payload_obj.get("object", "order")
        path = {"order": "orders", "event": "events", "issued_ticket": "issued_tickets"}.get(kind, kind + "s")
        return f"{self._public()}/v1/{path}/{payload_obj.get('id')}"

    def webhook_body(
        self,
        event_name: str,
        payload_obj: JSON | str,
        *,
        timestamp: int | None = None,
        delivery_id: str | None = None,
        resource_url: str | None = None,
    ) -> JSON:
        """The webhook envelope ``{id, created_at, event, resource_url, payload}``.

        ``payload_obj`` may be an order/event/issued-ticket id known to the fake (rendered as
        the API would) or a ready dict.  ``created_at`` format ("date time in UTC") is not
        specified by the docs; this uses ``"YYYY-MM-DD HH:MM:SS"`` as seen in public handlers.
        """
        with self.lock:
            obj = self._lookup(payload_obj) if isinstance(payload_obj, str) else payload_obj
            if delivery_id is None:
                self._delivery_seq += 1
                delivery_id = f"wh_{self._delivery_seq}"
        ts = int(time.time()) if timestamp is None else int(timestamp)
        return {
            "id": delivery_id,
            "created_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)),
            "event": event_name,
            "resource_url": resource_url or self.resource_url_for(obj),
            "payload": obj,
        }

    def signed_delivery(
        self,
        secret: str,
        event_name: str,
        payload_obj: JSON | str,
        timestamp: int | None = None,
        *,
        delivery_id: str | None = None,
        resource_url: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Return ``(headers, raw_body)`` exactly as TT would POST them.

        ``headers["Tickettailor-Webhook-Signature"] = "t=<ts>,v1=<hex hmac>"``; ``timestamp``
        defaults to the real current time (receivers reject anything > 5 min old).
        """
        ts = int(time.time()) if timestamp is None else int(timestamp)
        body = self.webhook_body(
            event_name, payload_obj, timestamp=ts, delivery_id=delivery_id, resource_url=resource_url
        )
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: f"t={ts},v1={sign(secret, ts, raw)}"}
        return headers, raw

    def deliver(
        self,
        url: str,
        secret: str,
        event_name: str,
        payload_obj: JSON | str,
        timestamp: int | None = None,
        *,
        delivery_id: str | None = None,
        resource_url: str | None = None,
        timeout: float = 10.0,
    ) -> httpx.Response:
        """POST a signed webhook to ``url`` (no redirects followed, like TT)."""
        headers, raw = self.signed_delivery(
            secret, event_name, payload_obj, timestamp, delivery_id=delivery_id, resource_url=resource_url
        )
        return httpx.post(url, content=raw, headers=headers, timeout=timeout, follow_redirects=False)

    def _lookup(self, obj_id: str) -> JSON:
        if obj_id in self.orders:
            return self._render_order(obj_id)
        if obj_id in self.events:
            return self._render_event(obj_id)
        if obj_id in self.issued_tickets:
            return self._render_ticket(self.issued_tickets[obj_id])
        raise KeyError(obj_id)

    # -- rendering ------------------------------------------------------------------------------
    def _render_ticket_type(self, tt: JSON) -> JSON:
        return {
            "object": "ticket_type",
            "id": tt["id"],
            "access_code": None,
            "booking_fee": tt["booking_fee"],
            "description": None,
            "group_id": tt["group_id"],
            "max_per_order": 10,
            "min_per_order": 1,
            "name": tt["name"],
            "price": tt["price"],
            "status": tt["status"],
            "sort_order": 1,
            "type": "paid" if tt["price"] else "free",
            "quantity": max(0, tt["quantity_total"] - tt["quantity_issued"]),
            "quantity_held": 0,
            "quantity_issued": tt["quantity_issued"],
            "quantity_total": tt["quantity_total"],
        }

    def _render_event(self, eid: str) -> JSON:
        e = self.events[eid]
        issued = sum(t["quantity_issued"] for t in e["ticket_types"])
        available = any(t["quantity_total"] > t["quantity_issued"] for t in e["ticket_types"])
        return {
            "object": "event",
            "id": eid,
            "event_series_id": e["event_series_id"],
            "access_code": None,
            "call_to_action": "Buy tickets",
            "created_at": e["created_at"],
            "currency": e["currency"],
            "description": e["description"],
            "start": _date_obj(e["start"], e["timezone"]),
            "end": _date_obj(e["end"], e["timezone"]),
            "hidden": _tf(e["hidden"]),
            "images": {"header": e["header"] or "", "thumbnail": e["thumbnail"] or ""},
            "name": e["name"],
            "online_event": _tf(e["online_event"]),
            "payment_methods": [
                {"external_id": None, "id": "pm_1", "instructions": None, "name": None, "type": "stripe"}
            ],
            "private": _tf(e["private"]),
            "status": e["status"],
            "ticket_groups": [],
            "ticket_types": [self._render_ticket_type(t) for t in e["ticket_types"]],
            "tickets_available": _tf(available),
            "timezone": e["timezone"],
            "total_holds": 0,
            "total_issued_tickets": issued,
            "total_orders": e["total_orders"],
            "unavailable": _tf(e["unavailable"]),
            "unavailable_status": None,
            "url": f"https://www.tickettailor.com/events/fakeboxoffice/{_num(eid)}",
            "venue": {"name": e["venue_name"], "postal_code": e["venue_postal_code"], "country": e["venue_country"]},
        }

    def _render_ticket(self, t: JSON) -> JSON:
        order = self.orders.get(t["order_id"])
        n = _num(t["id"])
        return {
            "object": "issued_ticket",
            "id": t["id"],
            "barcode": t["barcode"],
            "barcode_url": f"https://www.tickettailor.com/userfiles/cache/barcode/qr/attendee/{n}/x",
            "checked_in": _tf(t["checked_in"]),
            "created_at": t["created_at"],
            "custom_questions": [],
            "description": t["description"],
            "email": order["email"] if order else None,
            "event_id": t["event_id"],
            "reference": None,
            "full_name": None,
            "first_name": None,
            "last_name": None,
            "reservation": None,
            "status": t["status"],
            "source": "checkout",
            "ticket_type_id": t["ticket_type_id"],
            "updated_at": t["updated_at"],
            "voided_at": t["voided_at"],
            "order_id": t["order_id"],
            "qr_code_url": f"https://www.tickettailor.com/userfiles/cache/barcode/st/attendee/{n}/x",
        }

    @staticmethod
    def _totals(o: JSON) -> tuple[int, int, int]:
        subtotal = sum((li["value"] + li["booking_fee"]) * li["quantity"] for li in o["line_items"])
        tax = 0
        return subtotal, tax, subtotal + tax

    def _render_order(self, oid: str) -> JSON:
        o = self.orders[oid]
        ev = self.events[o["event_id"]]
        subtotal, tax, total = self._totals(o)
        tz = ev["timezone"]
        return {
            "object": "order",
            "id": oid,
            "buyer_details": {
                "address": dict(o["address"]),
                "custom_questions": list(o["custom_questions"]),
                "email": o["email"],
                "first_name": o["first_name"],
                "last_name": o["last_name"],
                "name": f"{o['first_name']} {o['last_name']}".strip(),
                "phone": o["phone"],
            },
            "created_at": o["created_at"],
            "credited_out_amount": 0,
            "currency": {"base_multiplier": 1 if o["currency"] == "jpy" else 100, "code": o["currency"]},
            "event_summary": {
                "id": ev["id"],
                "event_series_id": ev["event_series_id"],
                "name": ev["name"],
                "start_date": _date_obj(ev["start"], tz),
                "end_date": _date_obj(ev["end"], tz),
                "venue": {"name": ev["venue_name"], "postal_code": ev["venue_postal_code"]},
            },
            "issued_tickets": [self._render_ticket(t) for t in o["tickets"]],
            "line_items": [
                {
                    "object": "line_item",
                    "id": li["id"],
                    "item_id": li["item_id"],
                    "booking_fee": li["booking_fee"],
                    "description": li["description"],
                    "type": "ticket",
                    "total": (li["value"] + li["booking_fee"]) * li["quantity"],
                    "value": li["value"],
                    "quantity": li["quantity"],
                }
                for li in o["line_items"]
            ],
            "marketing_opt_in": o["marketing_opt_in"],
            "meta_data": [],
            "payment_method": {
                "external_id": None,
                "id": None,
                "instructions": None,
                "name": None,
                "type": o["payment_type"],
            },
            "referral_tag": o["referral_tag"],
            "refund_amount": o["refund_amount"],
            "status": o["status"],
            "status_message": None,
            "subtotal": subtotal,
            "tax": tax,
            "tax_treatment": "exclusive",
            "total": total,
            "total_paid": 0 if o["status"] == "pending" else total,
            "txn_id": o["txn_id"],
        }

    # -- list machinery -------------------------------------------------------------------------
    def _list(
        self,
        request: Request,
        resource: str,
        cache_key: Any,
        build: Callable[[], Iterable[str]],
        render: Callable[[str], JSON],
    ) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", self.default_limit))
        except ValueError:
            return _error(400, "limit must be an integer")
        limit = max(1, min(limit, 100))
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] == self._version:
            neg, ids = hit[1], hit[2]
        else:
            ids = sorted(build(), key=_num, reverse=True)  # newest first
            neg = [-_num(i) for i in ids]
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[cache_key] = (self._version, neg, ids)
        try:
            if q.get("ending_before"):
                p = bisect.bisect_left(neg, -_num(q["ending_before"]))
                start, end = max(0, p - limit), p
            elif q.get("starting_after"):
                start = bisect.bisect_right(neg, -_num(q["starting_after"]))
                end = start + limit
            else:
                start, end = 0, limit
        except ValueError:
            return _error(400, "Invalid pagination cursor")
        end = min(end, len(ids))
        page = ids[start:end]
        data = [render(i) for i in page]
        if self.ascending_pages:
            data.reverse()
        return json_response(
            {
                "data": data,
                "links": {
                    "next": self._link(request, resource, "starting_after", page[-1])
                    if end < len(ids) and page
                    else None,
                    "previous": self._link(request, resource, "ending_before", page[0]) if start > 0 and page else None,
                },
            }
        )

    def _link(self, request: Request, resource: str, cursor: str, obj_id: str) -> str:
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in {"starting_after", "ending_before"}]
        if self.links_style == "live":
            params = [(k.replace(".", "_"), v) for k, v in params]
            prefix = f"/{resource}"
        else:
            prefix = f"/v1/{resource}"
        params.append((cursor, obj_id))
        return f"{prefix}?{urlencode(params)}"

    @staticmethod
    def _range_filters(q: Any, field: str) -> list[tuple[str, int]]:
        out = []
        for suffix, op in _OPS.items():
            name = f"{field}.{suffix}" if suffix else field
            if q.get(name) not in (None, ""):
                out.append((op, int(q[name])))
        return out

    @staticmethod
    def _ok(value: int, filters: list[tuple[str, int]]) -> bool:
        for op, ref in filters:
            if (
                (op == "eq" and value != ref)
                or (op == "gt" and value <= ref)
                or (op == "gte" and value < ref)
                or (op == "lt" and value >= ref)
                or (op == "lte" and value > ref)
            ):
                return False
        return True

    # -- routing ---------------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        r = Route.make
        return [
            r("GET", r"/v1/ping", self._h_ping),
            r("GET", r"/v1/events", self._h_events),
            r("GET", r"/v1/events/(?P<eid>[^/]+)", self._h_event),
            r("GET", r"/v1/orders", self._h_orders),
            r("GET", r"/v1/orders/(?P<oid>[^/]+)", self._h_order),
            r("GET", r"/v1/issued_tickets", self._h_tickets),
            r("GET", r"/v1/issued_tickets/(?P<tid>[^/]+)", self._h_ticket),
        ]

    def _rate_headers(self, consume: bool) -> tuple[dict[str, str], bool]:
        """Return (headers, limited).  Fixed window starting at the first request."""
        if self.rate_limit is None:
            return {}, False
        now = time.monotonic()
        if self._window_start is None or now - self._window_start >= self.rate_window_seconds:
            self._window_start, self._window_used = now, 0
        left = max(0.0, self.rate_window_seconds - (now - self._window_start))
        limited = consume and self._window_used >= self.rate_limit
        if consume and not limited:
            self._window_used += 1
        reset = max(1, math.ceil(left)) if left > 0 else 0
        headers = {
            "X-Rate-Limit-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": str(max(0, self.rate_limit - self._window_used)),
            "X-Rate-Limit-Reset": str(reset),
        }
        if limited:
            headers["Retry-After"] = str(max(1, reset))
        return headers, limited

    def _dispatch(self, request: Request, route: Route | None, params: dict[str, str]) -> Response:
        self.calls += 1
        qs = request.url.query
        self.request_log.append(f"{request.method} {request.url.path}{'?' + qs if qs else ''}")
        if not self._auth_ok(request):
            headers, _ = self._rate_headers(consume=False)
            headers["WWW-Authenticate"] = 'Basic realm="Ticket Tailor API"'
            return _error(401, headers=headers)
        headers, limited = self._rate_headers(consume=True)
        if limited:
            self.rate_limited += 1
            return _error(429, headers=headers)
        if self._fail_queue:
            return _error(self._fail_queue.pop(0), headers=headers)
        if route is None:
            return _error(404, headers=headers)
        try:
            resp = route.handler(request, **params)
        except ValueError as exc:
            resp = _error(400, f"Invalid parameter: {exc}")
        resp.headers.update(headers)
        return resp

    def _auth_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user = base64.b64decode(value.strip()).decode("utf-8").split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.api_key)

    # -- handlers ------------------------------------------------------------------------------
    def _h_ping(self, request: Request) -> Response:
        return json_response({"version": "pong"})

    def _h_events(self, request: Request) -> Response:
        q = request.query_params
        starts = self._range_filters(q, "start_at")
        ends = self._range_filters(q, "end_at")
        statuses = {s.strip() for s in q.get("status", "").split(",") if s.strip()}

        def build() -> Iterable[str]:
            for e in self.events.values():
                if statuses and e["status"] not in statuses:
                    continue
                if self._ok(e["start"], starts) and self._ok(e["end"], ends):
                    yield e["id"]

        key = ("events", tuple(starts), tuple(ends), frozenset(statuses))
        return self._list(request, "events", key, build, self._render_event)

    def _h_event(self, request: Request, eid: str) -> Response:
        if eid not in self.events:
            return _error(404)
        return json_response(self._render_event(eid))

    def _h_orders(self, request: Request) -> Response:
        q = request.query_params
        created = self._range_filters(q, "created_at")
        eq = {k: q[k] for k in ("event_id", "event_series_id", "status", "txn_id", "referral_tag") if q.get(k)}
        email = (q.get("email") or "").lower() or None
        name = (q.get("name") or "").lower() or None

        def build() -> Iterable[str]:
            for o in self.orders.values():
                if not self._ok(o["created_at"], created):
                    continue
                if any(o[k] != v for k, v in eq.items()):
                    continue
                if email and o["email"].lower() != email:
                    continue
                if name and name not in {
                    o["first_name"].lower(),
                    o["last_name"].lower(),
                    f"{o['first_name']} {o['last_name']}".lower(),
                }:
                    continue
                yield o["id"]

        key = ("orders", tuple(created), tuple(sorted(eq.items())), email, name)
        return self._list(request, "orders", key, build, self._render_order)

    def _h_order(self, request: Request, oid: str) -> Response:
        if oid not in self.orders:
            return _error(404)
        return json_response(self._render_order(oid))

    def _h_tickets(self, request: Request) -> Response:
        q = request.query_params
        created = self._range_filters(q, "created_at")
        event_id = q.get("event_id")
        order_id = q.get("order_id")  # documented as the *numeric* order id; accept both forms
        if order_id and order_id.isdigit():
            order_id = f"or_{order_id}"
        status = q.get("status")

        def build() -> Iterable[str]:
            for t in self.issued_tickets.values():
                if event_id and t["event_id"] != event_id:
                    continue
                if order_id and t["order_id"] != order_id:
                    continue
                if status and t["status"] != ("voided" if status in {"void", "voided"} else status):
                    continue
                if self._ok(t["created_at"], created):
                    yield t["id"]

        key = ("tickets", tuple(created), event_id, order_id, status)
        return self._list(request, "issued_tickets", key, build, lambda i: self._render_ticket(self.issued_tickets[i]))

    def _h_ticket(self, request: Request, tid: str) -> Response:
        if tid not in self.issued_tickets:
            return _error(404)
        return json_response(self._render_ticket(self.issued_tickets[tid]))
