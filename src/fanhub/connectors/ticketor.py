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
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from fanhub.connectors.base import AUTH, FATAL, NOT_FOUND, RETRY
from fanhub.connectors.sync import Connector, SyncWriter, WebhookOutcome, build
from fanhub.ingest.records import ContactRecord, EventRecord, OrderRecord

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


def assemble_invoice(
    deliveries: list[tuple[str, dict[str, Any]]], default_currency: str, time_zone: str | None
) -> WebhookOutcome:
    """Rebuild one invoice's order (and its events) from every delivery that names it."""
    invoice: dict[str, Any] | None = None
    tickets: dict[Any, dict[str, Any]] = {}
    products: dict[Any, dict[str, Any]] = {}
    payments: list[dict[str, Any]] = []
    for kind, body in deliveries:
        if kind in ("new_invoice", "new_invoice_with_details"):
            if invoice is None or kind == "new_invoice_with_details":
                invoice = body
            tickets.update({t.get("Id"): t for t in body.get("Tickets") or []})
            products.update({p.get("Id"): p for p in body.get("Products") or []})
            payments.extend(body.get("Payments") or [])
        elif kind == "new_ticket_sale":
            tickets[body.get("Id")] = body
        elif kind == "new_merchandise_sale":
            products[body.get("Id")] = body
        elif kind == "new_payment":
            payments.append(body)
    outcome = WebhookOutcome()
    currency = (
        ((invoice or {}).get("Amount") or {}).get("Currency")
        or next((p.get("Currency") for p in payments if p.get("Currency")), None)
        or default_currency
    )
    buyer = _buyer(
        (invoice or {}).get("Buyer"),
        *[t.get("Buyer") for t in tickets.values()],
        *[p.get("Buyer") for p in products.values()],
        *[p.get("Buyer") for p in payments],
    )
    events: dict[str, EventRecord] = {}
    for ticket in sorted(tickets.values(), key=lambda t: str(t.get("Id"))):
        block = ticket.get("Event") or {}
        if block.get("EventId") is not None and str(block["EventId"]) not in events:
            event = map_event(block, time_zone)
            if event is not None:
                events[str(block["EventId"])] = event
    outcome.events = list(events.values())
    invoice_id = (invoice or {}).get("Id") or next(
        (x.get("InvoiceId") for x in [*tickets.values(), *products.values(), *payments] if x.get("InvoiceId")), None
    )
    if not events or invoice_id is None or not buyer:
        if buyer:
            contact = build(ContactRecord, {"contact": {k: v for k, v in buyer.items() if v}}, [_drop_phone])
            outcome.contacts += [contact] if contact else []
        return outcome
    items: dict[str, dict[str, Any]] = {}
    returned = 0
    for ticket in tickets.values():
        name = _text(ticket.get("PriceLevelName")) or _text(ticket.get("Section")) or "Ticket"
        item = items.setdefault(
            f"t:{name}",
            {"ticket_type_name": name, "quantity": 0, "prefee_price": Decimal(0), "total_price": Decimal(0)},
        )
        item["quantity"] += 1
        item["prefee_price"] += _dec(ticket.get("BuyPrice"))
        item["total_price"] += _dec(ticket.get("SellPrice"))
        if str(ticket.get("Status") or "").lower() in ("returned", "refunded", "void", "voided"):
            returned += 1
    for product in products.values():
        name = _text((product.get("Product") or {}).get("ProductName")) or "Merchandise"
        quantity = int(product.get("Amount") or 1)
        unit = _dec(product.get("UnitPrice"))
        total = unit * quantity - _dec(product.get("Discount")) + _dec(product.get("Tax"))
        item = items.setdefault(
            f"p:{name}",
            {"ticket_type_name": name, "quantity": 0, "prefee_price": Decimal(0), "total_price": Decimal(0)},
        )
        item["quantity"] += quantity
        item["prefee_price"] += unit * quantity
        item["total_price"] += max(total, Decimal(0))
    for item in items.values():
        item["currency_code"] = currency
    return_status = str((invoice or {}).get("ReturnStatus") or "")
    refunded = return_status.lower() in ("returned", "fullyreturned") or (tickets and returned == len(tickets))
    first_event = next(iter(events))
    order: OrderRecord | None = build(
        OrderRecord,
        {
            "id": str(invoice_id),
            "event_id": first_event,
            "customer": dict(buyer),
            "marketing_opt_ins": {},
            "items": list(items.values()),
            "created_at": (invoice or {}).get("Date") or next((p.get("Date") for p in payments if p.get("Date")), None),
            "status": "refunded" if refunded else "completed",
            "refunded_amount": sum((i["total_price"] for i in items.values()), Decimal(0)) if refunded else None,
        },
        [_drop_phone],
    )
    outcome.orders += [order] if order else []
    return outcome


class TicketorConnector(Connector):
    platform: ClassVar[str] = PLATFORM

    def verify(self) -> dict[str, Any]:
        self.client.request("GET", "")
        return {"site": self.info.settings.get("site")}

    def sync(self, writer: SyncWriter, *, full: bool = False, deadline: float | None = None) -> bool:
        # Nothing to poll: Ticketor documents no list endpoints and bills every record read.
        return True
