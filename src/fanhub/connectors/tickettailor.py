"""Ticket Tailor API v1: credential check (`/v1/ping`), box-office sync, signed webhooks, and the ONE
mapping into canonical records.

Streams:
- events: `GET /v1/events` (occurrences) full scan, re-emitted when their mapped record changes.
- orders: `GET /v1/orders?created_at.gte=<cursor>` newest first with `starting_after`/`limit=100`;
  the next URL is rebuilt from our own parameters (live `links.next` drops `/v1` and mangles
  filters) and ids are deduplicated. The cursor is the highest `created_at` seen.
- rescan: there is no `updated_at` filter, so orders created in the last N days (default 30,
  counted back from the newest order seen) are read again each sync to catch cancellations and
  refunds; only orders whose record changed are enqueued.

Mapping (lossy points):
- Money is integer minor units ÷ `currency.base_multiplier` (orders); events carry only a currency
  code, so their ticket prices use the ISO exponent of that currency.
- Times are unix seconds → UTC; the event's IANA `timezone` is kept.
- Event image `images.header`, else `.thumbnail`, else None; `url` as given. Location: venue name,
  address from postal code and country (Ticket Tailor has no street address). Draft events are
  skipped; `unavailable == "true"` → canceled; there is no other cancelled status.
- Orders: completed → completed; cancelled with `refund_amount` > 0 → refunded, otherwise
  canceled; pending is not an order yet. Items: `ticket` (and `donation`) line items with
  value + booking fee per unit; tax and transaction charge lines are not ticket prices.
- Consent: the undocumented `marketing_opt_in` — true → email opt-in through a ContactRecord
  (via "connector.tickettailor", never re-subscribes an opt-out); false/null say nothing (an
  unticked box is not an opt-out). No SMS consent exists.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from fanhub.connectors.base import AUTH, FATAL, NOT_FOUND, RATE_LIMITED, RETRY, ApiClient, ClientOptions
from fanhub.connectors.connector import Accepted, Connector, Delivery, Field, Rejected, WebhookContext, WebhookHandler
from fanhub.connectors.streams import IncrementalStream, SnapshotStream, StartingAfterPaginator, SyncRun
from fanhub.connectors.sync import ConnectionInfo, WebhookOutcome, build
from fanhub.ingest.records import ContactRecord, EventRecord, OrderRecord, record_digest
from fanhub.money import minor_unit_exponent

if TYPE_CHECKING:
    from fanhub.config import Settings

API_BASE = "https://api.tickettailor.com"
PLATFORM = "tickettailor"
SIGNATURE_HEADER = "tickettailor-webhook-signature"
SIGNATURE_TOLERANCE = 300
_PRICED_LINES = {"ticket", "donation"}


def classify(response: httpx.Response, body: Any) -> tuple[str, str | None]:
    code = body.get("error_code") if isinstance(body, dict) else None
    status = response.status_code
    if status == 429:
        return RATE_LIMITED, code
    if status in (401, 403):
        return AUTH, code
    if status == 404:
        return NOT_FOUND, code
    if status >= 500 or status == 408:
        return RETRY, code
    return FATAL, code


# --- webhook signature -------------------------------------------------------------------------


def verify_signature(header: str | None, raw_body: bytes, secret: str, now: float | None = None) -> str | None:
    """None when `t=…,v1=…` is a valid HMAC-SHA256 of timestamp + raw body within ±5 minutes; else why not."""
    if not header:
        return "missing signature"
    parts = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, signature = parts.get("t"), parts.get("v1")
    if not timestamp or not signature or not timestamp.isdigit():
        return "malformed signature"
    expected = hmac.new(secret.encode(), timestamp.encode() + raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "signature mismatch"
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_TOLERANCE:
        return "signature timestamp outside ±5 minutes"
    return None


# --- mapping ---------------------------------------------------------------------------------------


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _minor(value: Any, multiplier: int) -> Decimal:
    return Decimal(int(value or 0)) / Decimal(multiplier or 1)


def _iso(unix: Any) -> str | None:
    if unix in (None, ""):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(unix)))


def _unix_of(date_obj: Any) -> Any:
    return date_obj.get("unix") if isinstance(date_obj, dict) else None


def map_event(event: dict[str, Any], *, deleted: bool = False) -> EventRecord | None:
    status = str(event.get("status") or "").lower()
    if status == "draft" and not deleted:
        return None
    currency = str(event.get("currency") or "usd").upper()
    multiplier = 10 ** minor_unit_exponent(currency)
    images = event.get("images") or {}
    venue = event.get("venue") or {}
    address = ", ".join(str(v) for v in (venue.get("postal_code"), venue.get("country")) if v) or None
    ticket_types = [
        {
            "name": tt.get("name") or "Ticket",
            "prefee_price": _minor(tt.get("price"), multiplier),
            "total_price": _minor(int(tt.get("price") or 0) + int(tt.get("booking_fee") or 0), multiplier),
            "currency_code": currency,
            "quantity": tt.get("quantity_total"),
        }
        for tt in event.get("ticket_types") or []
    ]
    canceled = deleted or _true(event.get("unavailable"))
    data = {
        "id": event["id"],
        "url": event.get("url") or None,
        "name": event.get("name") or f"Event {event['id']}",
        "image_url": images.get("header") or images.get("thumbnail") or None,
        "description": event.get("description") or None,
        "status": "canceled" if canceled else "live",
        "start_datetime": _iso(_unix_of(event.get("start"))),
        "end_datetime": _iso(_unix_of(event.get("end"))),
        "time_zone": event.get("timezone") or None,
        "location": {"name": venue.get("name") or "", "address": address},
        "ticket_types": ticket_types,
    }
    record: EventRecord | None = build(EventRecord, data)
    return record


def _drop_phone(data: dict[str, Any]) -> None:
    (data.get("customer") or data.get("contact") or {}).pop("phone", None)


def map_order(order: dict[str, Any]) -> tuple[OrderRecord | None, ContactRecord | None]:
    status = str(order.get("status") or "").lower()
    if status == "pending":
        return None, None
    currency_obj = order.get("currency") or {}
    if isinstance(currency_obj, str):
        currency_obj = {"code": currency_obj}
    currency = str(currency_obj.get("code") or "usd").upper()
    multiplier = int(currency_obj.get("base_multiplier") or 10 ** minor_unit_exponent(currency))
    items = []
    for line in order.get("line_items") or []:
        if str(line.get("type") or "ticket") not in _PRICED_LINES:
            continue
        quantity = int(line.get("quantity") or 1)
        value, fee = int(line.get("value") or 0), int(line.get("booking_fee") or 0)
        items.append(
            {
                "ticket_type_name": line.get("description") or None,
                "quantity": quantity,
                "prefee_price": _minor(value * quantity, multiplier),
                "total_price": _minor((value + fee) * quantity, multiplier),
                "currency_code": currency,
            }
        )
    if not items:
        items.append({"quantity": 1, "total_price": _minor(order.get("total"), multiplier), "currency_code": currency})
    refund = int(order.get("refund_amount") or 0)
    # Ticket Tailor has no refunded status: a cancelled order with money returned is a refund.
    canonical = ("refunded" if refund > 0 else "canceled") if status == "cancelled" else "completed"
    buyer = order.get("buyer_details") or {}
    address_obj = buyer.get("address") or {}
    address = ", ".join(
        str(address_obj[k]) for k in ("address_1", "address_2", "address_3", "postal_code") if address_obj.get(k)
    )
    customer = {
        "email": buyer.get("email") or None,
        "phone": buyer.get("phone") or None,
        "first_name": buyer.get("first_name") or None,
        "last_name": buyer.get("last_name") or None,
        "address": address or None,
    }
    event_id = (order.get("event_summary") or {}).get("id") or order.get("event_id")
    record: OrderRecord | None = build(
        OrderRecord,
        {
            "id": order["id"],
            "event_id": event_id,
            "customer": dict(customer),
            "marketing_opt_ins": {},
            "items": items,
            "created_at": _iso(order.get("created_at")),
            "status": canonical,
            "refunded_amount": _minor(refund, multiplier) if refund else None,
        },
        [_drop_phone],
    )
    contact = None
    if order.get("marketing_opt_in") is True:
        contact = build(
            ContactRecord,
            {
                "contact": {k: v for k, v in customer.items() if v and k != "address"},
                "opt_ins": {"email": True},
                "via": "connector.tickettailor",
                "observed_at": _iso(order.get("created_at")),
            },
            [_drop_phone],
        )
    return record, contact


# --- streams ---------------------------------------------------------------------------------------


class Events(SnapshotStream):
    """Every event occurrence; one is re-emitted when its mapped record changed."""

    name = "events"
    path = "v1/events"
    records_key = "data"
    paginator = StartingAfterPaginator()
    replication_key = "created_at"

    def signature(self, raw: dict[str, Any]) -> str:
        record = map_event(raw)
        return record_digest(record) if record is not None else "skipped"

    def map_record(self, raw: dict[str, Any]) -> EventRecord | None:
        return map_event(raw)


class Orders(IncrementalStream):
    """Orders created at or after the cursor, newest first. `created_at.gte` (not gt): orders of the
    cursor's own second are read again and deduplicated."""

    name = "orders"
    path = "v1/orders"
    records_key = "data"
    paginator = StartingAfterPaginator()
    replication_key = "created_at"
    since_param = "created_at.gte"
    cursor_type = int

    def map_record(self, raw: dict[str, Any]) -> tuple[OrderRecord | None, ContactRecord | None]:
        return map_order(raw)


class Rescan(Orders):
    """Orders created in the last `lookback_seconds` before the newest order seen, read again each
    sync: there is no `updated_at` filter, and only a re-read sees a cancellation or a refund.

    Skipped right after a backfill (it just read everything), unless the sync is a full one.
    """

    name = "rescan"
    restarts_for_full = False

    def prepare(self, run: SyncRun) -> None:
        self.after_backfill = not run.writer.load(Orders.name).get("cursor")

    def sync(self, run: SyncRun) -> bool:
        if self.after_backfill and not run.full:
            return True
        cursor = run.writer.load(Orders.name).get("cursor")
        if cursor is None:
            return True
        self.orders_cursor = int(cursor)
        return super().sync(run)

    def since_for_new_scan(self, state: Mapping[str, Any], run: SyncRun) -> Any:
        return self.shift(self.orders_cursor, self.lookback_seconds)


# --- webhooks ----------------------------------------------------------------------------------------


class TicketTailorWebhooks(WebhookHandler):
    """Signed deliveries (HMAC of timestamp + raw body, ±5 minutes), deduplicated on their id."""

    responses = {
        400: "a delivery without id",
        401: "no webhook secret configured, or a missing, stale or wrong signature",
    }

    def accept(
        self,
        info: ConnectionInfo,
        headers: Mapping[str, str],
        raw_body: bytes,
        body: dict[str, Any],
        query: Mapping[str, str],
    ) -> Accepted | Rejected:
        secret = info.credentials.get("webhook_secret")
        if not secret:
            return Rejected(401, "no webhook secret configured for this connection (connect with --webhook-secret)")
        problem = verify_signature(headers.get(SIGNATURE_HEADER), raw_body, secret)
        if problem is not None:
            return Rejected(401, problem)
        if not body.get("id"):
            return Rejected(400, "delivery has no id")
        return Accepted(str(body.get("event") or "unknown")[:64], body, f"tt:{body['id']}")

    def process(self, delivery: Delivery, context: WebhookContext) -> WebhookOutcome:
        name = str(delivery.body.get("event") or "").upper()
        raw_payload = delivery.body.get("payload")
        payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
        outcome = WebhookOutcome()
        if name.startswith("ORDER.") or name.startswith("ISSUED_TICKET."):
            if name.startswith("ISSUED_TICKET."):
                # A voided ticket changes its order: read the order as it is now.
                payload = context.connector.client.get_json(f"v1/orders/{payload['order_id']}")
            order, contact = map_order(payload)
            outcome.orders += [order] if order else []
            outcome.contacts += [contact] if contact else []
        elif name.startswith("EVENT."):
            event = map_event(payload, deleted=name == "EVENT.DELETED") if payload.get("id") else None
            if event is not None:
                outcome.events.append(event)
            elif name == "EVENT.DELETED" and payload.get("id"):
                outcome.note = "deleted event without enough data to mark it canceled"
        else:
            outcome.note = f"webhook {name!r} carries nothing fanhub keeps"
        return outcome


# --- the connector ---------------------------------------------------------------------------------


class TicketTailorConnector(Connector):
    platform = PLATFORM
    label = "Ticket Tailor"
    summary = "Connect a Ticket Tailor box office (key checked with GET /v1/ping)."
    default_base_url = API_BASE
    fields = (
        Field("api_key", "API key", "Ticket Tailor API key (sk_...)."),
        Field(
            "webhook_secret",
            "webhook signing secret",
            "The webhook's signing secret from Ticket Tailor.",
            required=False,
        ),
    )
    streams = (Events, Orders, Rescan)
    webhooks = TicketTailorWebhooks()

    @classmethod
    def make_client(
        cls, base_url: str, credentials: Mapping[str, Any], settings: Settings, options: ClientOptions
    ) -> ApiClient:
        key = str(credentials["api_key"])
        # No budget of our own by default: the client honours X-Rate-Limit-Remaining/Reset instead.
        return options.client(
            base_url, classify, auth=httpx.BasicAuth(key, ""), budget=options.budget(key), pause_when_exhausted=True
        )

    def verify(self) -> dict[str, Any]:
        body = self.client.get_json("v1/ping")
        return {"ping": body.get("version")}

    def configure(self, stream: Any) -> Any:
        if isinstance(stream, Rescan):
            stream.lookback_seconds = self.settings.tickettailor_rescan_days * 86400
        return stream
