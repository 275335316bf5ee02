"""Ticketor: webhooks only (no documented list endpoints, and records are billed), credential probe,
and the ONE mapping of the six documented webhook payloads into canonical records.

Ticketor posts the raw object with no type, delivery id or signature, so the random path secret
is the check, the type is recognised from the payload's shape (or `?type=`), and deliveries are
deduplicated on (type, Id). An invoice's pieces arrive separately (invoice, tickets, merchandise,
payments), so each delivery about an invoice rebuilds the order from every stored delivery that
names the same invoice.

Mapping (lossy points):
- Events exist only as a ticket's `Event{EventId, EventName, EventDate}`: the date text Ticketor
  appends to `EventName` is removed; `EventDate` is UTC; url, image, description, venue, end and
  doors are unknown (None / empty location name), the zone is the connection's configured one.
- An order is one invoice; its event is the first event among its tickets (an invoice that spans
  several events keeps every ticket as an item but points at one event). A merchandise-only
  invoice has no event and yields only its buyer as a contact.
- Prices are major-unit decimals: a ticket's `BuyPrice` is the pre-fee price, `SellPrice` the total;
  merchandise `UnitPrice` × `Amount` (quantity) − `Discount` + `Tax`. Currency: the invoice's or a
  payment's, else the connection's default.
- Returns: `ReturnStatus` "Returned" (or every ticket returned) → refunded; undocumented values
  otherwise leave the order completed.
- Consent: New User `MailingListPermission` / `SMSPermission`, as given (true and false), via
  "connector.ticketor" at `SignupDate`. Invoices and tickets carry no consent.
- Payment cards are never stored (`Card` is removed before the delivery is saved).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from fanhub.connectors.base import AUTH, FATAL, NOT_FOUND, RETRY, ApiClient, ClientOptions
from fanhub.connectors.connector import (
    Accepted,
    Connector,
    Delivery,
    Field,
    Plan,
    Rejected,
    WebhookContext,
    WebhookHandler,
)
from fanhub.connectors.sync import ConnectionInfo, WebhookOutcome, build
from fanhub.ingest.records import ContactRecord, EventRecord, OrderRecord

if TYPE_CHECKING:
    from fanhub.config import Settings

PLATFORM = "ticketor"
KINDS = (
    "new_user",
    "new_invoice",
    "new_invoice_with_details",
    "new_ticket_sale",
    "new_merchandise_sale",
    "new_payment",
)
_INVOICE_KINDS = {"new_invoice", "new_invoice_with_details", "new_ticket_sale", "new_merchandise_sale", "new_payment"}
_DATE_SUFFIX = re.compile(
    r"\s*-?\s*(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday),?\s+\w+\s+\d{1,2},\s+\d{4}"
    r"(\s+at\s+\d{1,2}:\d{2}\s*[AP]M)?\s*$",
    re.IGNORECASE,
)


def base_url_for(site: str) -> str:
    site = site.strip().rstrip("/")
    if site.startswith("http://") or site.startswith("https://"):
        return site if site.endswith("/api/1") else f"{site}/api/1"
    return f"https://{site}/api/1"


def classify(response: httpx.Response, body: Any) -> tuple[str, str | None]:
    status = response.status_code
    if status in (401, 403):
        return AUTH, None
    if status == 404:
        return NOT_FOUND, None
    if status >= 500:
        return RETRY, None
    return FATAL, None


def detect_kind(body: Any, hint: str | None = None) -> str | None:
    """Which of the six payloads this is (Ticketor sends no type field)."""
    if hint:
        normalized = hint.strip().lower().replace("-", "_").replace(" ", "_")
        return normalized if normalized in KINDS else None
    if not isinstance(body, dict) or "Id" not in body:
        return None
    if "SignupDate" in body or "MailingListPermission" in body:
        return "new_user"
    if "InvoiceType" in body:
        return (
            "new_invoice_with_details" if any(k in body for k in ("Tickets", "Products", "Payments")) else "new_invoice"
        )
    if isinstance(body.get("Event"), dict) and "InvoiceId" in body:
        return "new_ticket_sale"
    if isinstance(body.get("Product"), dict) and "InvoiceId" in body:
        return "new_merchandise_sale"
    if "ChargeMethod" in body or "PaymentType" in body:
        return "new_payment"
    return None


def scrub(body: dict[str, Any]) -> dict[str, Any]:
    """Remove card details (never stored), at any depth."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "Card":
            continue
        if isinstance(value, dict):
            out[key] = scrub(value)
        elif isinstance(value, list):
            out[key] = [scrub(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def delivery_keys(kind: str, body: dict[str, Any]) -> tuple[str, str | None]:
    """(dedupe key, invoice reference) of a delivery."""
    ref = None
    if kind in ("new_invoice", "new_invoice_with_details"):
        ref = f"invoice:{body['Id']}"
    elif kind in _INVOICE_KINDS and body.get("InvoiceId"):
        ref = f"invoice:{body['InvoiceId']}"
    return f"{kind}:{body['Id']}", ref


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value not in (None, "") else None


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def event_name(raw: str) -> str:
    name = _DATE_SUFFIX.sub("", raw or "").strip()
    return name or (raw or "").strip()


def _drop_phone(data: dict[str, Any]) -> None:
    (data.get("customer") or data.get("contact") or {}).pop("phone", None)


def map_event(block: dict[str, Any], time_zone: str | None) -> EventRecord | None:
    record: EventRecord | None = build(
        EventRecord,
        {
            "id": block.get("EventId"),
            "name": event_name(str(block.get("EventName") or "")) or f"Event {block.get('EventId')}",
            "start_datetime": block.get("EventDate"),
            "time_zone": time_zone,
            "location": {"name": ""},
        },
    )
    return record


def map_user(user: dict[str, Any]) -> ContactRecord | None:
    first, last = _text(user.get("FirstName")), _text(user.get("LastName"))
    opt_ins: dict[str, bool] = {}
    for field, channel in (("MailingListPermission", "email"), ("SMSPermission", "sms")):
        if isinstance(user.get(field), bool):
            opt_ins[channel] = user[field]
    contact = {
        "first_name": first,
        "last_name": last,
        "full_name": " ".join(p for p in (first, last) if p) or None,
        "email": _text(user.get("Email")),
        "phone": _text(user.get("Mobile")) or _text(user.get("Phone")),
    }
    record: ContactRecord | None = build(
        ContactRecord,
        {
            "contact": {k: v for k, v in contact.items() if v},
            "opt_ins": opt_ins,
            "via": "connector.ticketor",
            "observed_at": user.get("SignupDate"),
        },
        [_drop_phone],
    )
    return record


def _buyer(*sources: Any) -> dict[str, Any]:
    for source in sources:
        if isinstance(source, dict) and (source.get("Email") or source.get("Phone")):
            return {
                "email": _text(source.get("Email")),
                "phone": _text(source.get("Phone")),
                "first_name": _text(source.get("FirstName")),
                "last_name": _text(source.get("LastName")),
            }
    return {}


@dataclass
class _Invoice:
    """The pieces of one invoice gathered from its deliveries."""

    invoice: dict[str, Any] = default(default_factory=dict)
    tickets: dict[Any, dict[str, Any]] = default(default_factory=dict)
    products: dict[Any, dict[str, Any]] = default(default_factory=dict)
    payments: list[dict[str, Any]] = default(default_factory=list)

    @classmethod
    def gather(cls, deliveries: list[tuple[str, dict[str, Any]]]) -> _Invoice:
        pieces = cls()
        seen_invoice = False
        for kind, body in deliveries:
            if kind in ("new_invoice", "new_invoice_with_details"):
                # The detailed copy wins over the bare one; the first bare one otherwise.
                if not seen_invoice or kind == "new_invoice_with_details":
                    pieces.invoice, seen_invoice = body, True
                pieces.tickets.update({t.get("Id"): t for t in body.get("Tickets") or []})
                pieces.products.update({p.get("Id"): p for p in body.get("Products") or []})
                pieces.payments.extend(body.get("Payments") or [])
            elif kind == "new_ticket_sale":
                pieces.tickets[body.get("Id")] = body
            elif kind == "new_merchandise_sale":
                pieces.products[body.get("Id")] = body
            elif kind == "new_payment":
                pieces.payments.append(body)
        return pieces

    def currency(self, default: str) -> str:
        return str(
            (self.invoice.get("Amount") or {}).get("Currency")
            or next((p.get("Currency") for p in self.payments if p.get("Currency")), None)
            or default
        )

    def buyer(self) -> dict[str, Any]:
        return _buyer(
            self.invoice.get("Buyer"),
            *[t.get("Buyer") for t in self.tickets.values()],
            *[p.get("Buyer") for p in self.products.values()],
            *[p.get("Buyer") for p in self.payments],
        )

    def events(self, time_zone: str | None) -> dict[str, EventRecord]:
        events: dict[str, EventRecord] = {}
        for ticket in sorted(self.tickets.values(), key=lambda t: str(t.get("Id"))):
            block = ticket.get("Event") or {}
            if block.get("EventId") is not None and str(block["EventId"]) not in events:
                event = map_event(block, time_zone)
                if event is not None:
                    events[str(block["EventId"])] = event
        return events

    def invoice_id(self) -> Any:
        pieces = [*self.tickets.values(), *self.products.values(), *self.payments]
        return self.invoice.get("Id") or next((x.get("InvoiceId") for x in pieces if x.get("InvoiceId")), None)

    def items(self, currency: str) -> tuple[list[dict[str, Any]], bool]:
        """Order items (tickets by price level, merchandise by product) and whether all was returned."""
        items: dict[str, dict[str, Any]] = {}

        def item(key: str, name: str) -> dict[str, Any]:
            empty = {"ticket_type_name": name, "quantity": 0, "prefee_price": Decimal(0), "total_price": Decimal(0)}
            return items.setdefault(key, {**empty, "currency_code": currency})

        returned = 0
        for ticket in self.tickets.values():
            name = _text(ticket.get("PriceLevelName")) or _text(ticket.get("Section")) or "Ticket"
            line = item(f"t:{name}", name)
            line["quantity"] += 1
            line["prefee_price"] += _dec(ticket.get("BuyPrice"))
            line["total_price"] += _dec(ticket.get("SellPrice"))
            if str(ticket.get("Status") or "").lower() in ("returned", "refunded", "void", "voided"):
                returned += 1
        for product in self.products.values():
            name = _text((product.get("Product") or {}).get("ProductName")) or "Merchandise"
            quantity = int(product.get("Amount") or 1)
            unit = _dec(product.get("UnitPrice"))
            total = unit * quantity - _dec(product.get("Discount")) + _dec(product.get("Tax"))
            line = item(f"p:{name}", name)
            line["quantity"] += quantity
            line["prefee_price"] += unit * quantity
            line["total_price"] += max(total, Decimal(0))
        return_status = str(self.invoice.get("ReturnStatus") or "").lower()
        refunded = return_status in ("returned", "fullyreturned") or bool(
            self.tickets and returned == len(self.tickets)
        )
        return list(items.values()), refunded


def assemble_invoice(
    deliveries: list[tuple[str, dict[str, Any]]], default_currency: str, time_zone: str | None
) -> WebhookOutcome:
    """Rebuild one invoice's order (and its events) from every delivery that names it."""
    pieces = _Invoice.gather(deliveries)
    buyer = pieces.buyer()
    events = pieces.events(time_zone)
    outcome = WebhookOutcome(events=list(events.values()))
    invoice_id = pieces.invoice_id()
    if not events or invoice_id is None or not buyer:
        if buyer:
            contact = build(ContactRecord, {"contact": {k: v for k, v in buyer.items() if v}}, [_drop_phone])
            outcome.contacts += [contact] if contact else []
        return outcome
    items, refunded = pieces.items(pieces.currency(default_currency))
    created = pieces.invoice.get("Date") or next((p.get("Date") for p in pieces.payments if p.get("Date")), None)
    order: OrderRecord | None = build(
        OrderRecord,
        {
            "id": str(invoice_id),
            "event_id": next(iter(events)),
            "customer": dict(buyer),
            "marketing_opt_ins": {},
            "items": items,
            "created_at": created,
            "status": "refunded" if refunded else "completed",
            "refunded_amount": sum((i["total_price"] for i in items), Decimal(0)) if refunded else None,
        },
        [_drop_phone],
    )
    outcome.orders += [order] if order else []
    return outcome


class TicketorWebhooks(WebhookHandler):
    """No type, delivery id or signature: the path secret is the check, the type is recognised from
    the payload's shape (or `?type=`), and an invoice is rebuilt from all its stored pieces."""

    responses = {400: "a payload without Id", 422: "not one of the Ticketor webhook payloads"}

    def accept(
        self,
        info: ConnectionInfo,
        headers: Mapping[str, str],
        raw_body: bytes,
        body: dict[str, Any],
        query: Mapping[str, str],
    ) -> Accepted | Rejected:
        kind = detect_kind(body, query.get("type"))
        if kind is None:
            return Rejected(422, f"not one of the Ticketor webhook payloads: {', '.join(KINDS)}")
        if body.get("Id") in (None, ""):  # a `type` hint names the kind of payloads that lack an Id
            return Rejected(400, "delivery has no Id", field="Id")
        body = scrub(body)
        dedupe_key, ref = delivery_keys(kind, body)
        return Accepted(kind, body, dedupe_key, ref)

    def process(self, delivery: Delivery, context: WebhookContext) -> WebhookOutcome:
        if delivery.kind == "new_user":
            contact = map_user(delivery.body)
            return WebhookOutcome(contacts=[contact] if contact else [])
        settings = context.info.settings
        return assemble_invoice(context.related(), str(settings.get("currency") or "USD"), settings.get("time_zone"))


class TicketorConnector(Connector):
    platform = PLATFORM
    label = "Ticketor"
    summary = "Connect a Ticketor site (webhooks only; credentials checked with Basic auth)."
    fields = (
        Field("site", "site", "Your Ticketor site host, e.g. www.myvenue.com.", secret=False, credential=False),
        Field("username", "username", "Email of a user with the API Access permission.", secret=False),
        Field("password", "password", "That user's password.", strip=False),
        Field("client_id", "client id", "Ticketor Client ID / Company ID.", secret=False, credential=False),
        Field(
            "currency",
            "currency",
            "Currency when a payload names none.",
            secret=False,
            required=False,
            credential=False,
            default="USD",
            on_form=False,
        ),
        Field(
            "time_zone",
            "time zone",
            "IANA zone of your events.",
            secret=False,
            required=False,
            credential=False,
            on_form=False,
        ),
    )
    # Nothing to poll: Ticketor documents no list endpoints and bills every record read.
    streams = ()
    webhooks = TicketorWebhooks()

    @classmethod
    def make_client(
        cls, base_url: str, credentials: Mapping[str, Any], settings: Settings, options: ClientOptions
    ) -> ApiClient:
        auth = httpx.BasicAuth(str(credentials["username"]), str(credentials["password"]))
        return options.client(base_url, classify, auth=auth)

    @classmethod
    def base_url_for(cls, values: Mapping[str, Any]) -> str:
        return base_url_for(str(values["site"]))

    def verify(self) -> dict[str, Any]:
        self.client.request("GET", "")
        return {"site": self.info.settings.get("site")}

    def plan(self, values: Mapping[str, Any], found: dict[str, Any]) -> Plan:
        settings = {
            "site": values["site"],
            "client_id": str(values["client_id"]),
            "currency": str(values.get("currency") or "USD").upper(),
            "time_zone": values.get("time_zone"),
        }
        return Plan(str(values["site"]), settings)
