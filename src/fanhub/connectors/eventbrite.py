"""Eventbrite API v3: credential check, organization sync, webhook re-fetch, and the ONE mapping into
canonical records.

Streams (all organization-level, so 1,000 orders cost about 20 calls, never a per-event fan-out):
- venues: `GET /organizations/{id}/venues/` (full list; names and addresses for events).
- events: `GET /organizations/{id}/events/` full scan; an event is re-emitted only when its
  `changed` (or its venue) differs from the checkpoint, and only then are its ticket classes fetched.
- orders: `GET /organizations/{id}/orders/?status=both&changed_since=<cursor - overlap>` with
  `expand=attendees,contact_list_preferences`; continuation pages; the cursor is the highest
  `changed` seen, committed only when the scan completes (mid-scan the continuation is kept).

Mapping (lossy points, deliberately explicit):
- Event image: `logo.url` (or `logo.original.url`); absent → None. `url` as given, else None.
- Location: venue name + `localized_address_display`; an online event without venue is "Online";
  no venue at all → an empty name (Eventbrite says nothing; we invent nothing).
- Draft events are not emitted; `canceled` → canceled; every other status → live.
- Times: `start.utc`/`end.utc` (already UTC) and `start.timezone` as the event's zone.
- Money: Currency Cost `value` (minor units) → major units at the currency's exponent.
- Orders: `refunded` → refunded (refunded_amount = gross); `cancelled`/`deleted` → canceled; some
  attendees refunded → completed with their gross as refunded_amount; started/pending/abandoned are
  not orders yet and are skipped. Items: one per ticket class from the attendees.
- Consent: only `contact_list_preferences`. `has_opted_in: true` → email opt-in; `false` on an
  address that IS in one of the organization's contact lists → opt-out; `false` otherwise says
  nothing (never opted in is not an opt-out). It travels on the order as its list state
  (`list_email_opt_in`, read at the order's `changed`), applied with via "connector.eventbrite",
  which the consent rules never let re-subscribe an opted-out contact. The order carries no
  checkout opt-in (has_opted_in is today's list state, not a checkout tick). No
  SMS consent exists on Eventbrite. Phone: the attendee profile's `cell_phone` when collected.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from fanhub.connectors.base import (
    AUTH,
    EXPANSION,
    FATAL,
    NOT_FOUND,
    RATE_LIMITED,
    RETRY,
    ApiClient,
    ClientOptions,
    ConnectorError,
    ExpansionFailed,
    is_under,
)
from fanhub.connectors.connector import (
    Accepted,
    ChoiceNeeded,
    Connector,
    Delivery,
    Field,
    Plan,
    Rejected,
    WebhookContext,
    WebhookHandler,
)
from fanhub.connectors.eventbrite_page import ORDER_PAGE
from fanhub.connectors.streams import ContinuationPaginator, IncrementalStream, SnapshotStream, Stream, SyncRun
from fanhub.connectors.sync import WebhookOutcome, build
from fanhub.ingest.records import EventRecord, OrderRecord
from fanhub.money import minor_unit_exponent

if TYPE_CHECKING:
    from fanhub.config import Settings

API_BASE = "https://www.eventbriteapi.com/v3"
PLATFORM = "eventbrite"
ORDER_EXPAND = "attendees,contact_list_preferences"
WEBHOOK_ACTIONS = (
    "order.placed,order.refunded,order.updated,event.created,event.published,event.updated,"
    "event.unpublished,attendee.updated,ticket_class.created,ticket_class.updated,ticket_class.deleted,venue.updated"
)
_AUTH_CODES = {"INVALID_AUTH", "INVALID_AUTH_HEADER", "NO_AUTH", "ACCESS_DENIED", "NOT_AUTHORIZED"}
_SKIPPED_ORDER_STATUSES = {"started", "pending", "abandoned", "unpaid"}
_CANCELED_ORDER_STATUSES = {"cancelled", "canceled", "deleted"}


def classify(response: httpx.Response, body: Any) -> tuple[str, str | None]:
    """Branch on the locale-independent `error` code, never on `error_description`."""
    code = body.get("error") if isinstance(body, dict) else None
    status = response.status_code
    if code == "HIT_RATE_LIMIT" or status == 429:
        return RATE_LIMITED, code
    if code in _AUTH_CODES:
        return AUTH, code
    if code == "EXPANSION_FAILED":
        return EXPANSION, code
    if code == "NOT_FOUND" or status == 404:
        return NOT_FOUND, code
    if status >= 500 or (code is None and status == 403):
        # A bare HTML 403 comes from CloudFront, not from Eventbrite's auth: try again later.
        return RETRY, code
    if code is None and status == 401:
        return AUTH, code
    return FATAL, code


# --- mapping (the only place Eventbrite objects become canonical records) ------------------------


def _money(cost: Any) -> Decimal | None:
    if not isinstance(cost, dict) or cost.get("value") is None:
        return None
    return Decimal(int(cost["value"])).scaleb(-minor_unit_exponent(str(cost.get("currency") or "USD")))


def _currency(cost: Any, default: str = "USD") -> str:
    return str(cost.get("currency") or default).upper() if isinstance(cost, dict) else default


def venue_summary(venue: dict[str, Any]) -> dict[str, Any]:
    address = venue.get("address") or {}
    display = address.get("localized_address_display")
    if not display:
        parts = [address.get(k) for k in ("address_1", "address_2", "city", "region", "postal_code", "country")]
        display = ", ".join(p for p in parts if p) or None
    return {"name": venue.get("name") or "", "address": display}


def event_signature(event: dict[str, Any], venues: dict[str, dict[str, Any]]) -> str:
    venue = venues.get(str(event.get("venue_id") or ""))
    return f"{event.get('changed')}|{venue.get('name') if venue else ''}|{venue.get('address') if venue else ''}"


def map_event(
    event: dict[str, Any], venues: dict[str, dict[str, Any]], ticket_classes: list[dict[str, Any]]
) -> EventRecord | None:
    status = str(event.get("status") or "").lower()
    if status == "draft":
        return None
    venue = venues.get(str(event.get("venue_id") or "")) or (
        venue_summary(event["venue"]) if isinstance(event.get("venue"), dict) else None
    )
    if venue is not None:
        location = {"name": venue["name"], "address": venue["address"]}
    else:
        location = {"name": "Online" if event.get("online_event") else "", "address": None}
    logo = event.get("logo") or {}
    image = logo.get("url") or (logo.get("original") or {}).get("url") or None
    description = (event.get("description") or {}).get("text") or event.get("summary") or None
    start = event.get("start") or {}
    end = event.get("end") or {}
    ticket_types = []
    for tc in ticket_classes:
        cost = tc.get("cost")
        free = bool(tc.get("free")) or cost is None
        currency = _currency((cost or {}).get("cost"), str(event.get("currency") or "USD"))
        ticket_types.append(
            {
                "name": tc.get("display_name") or tc.get("name") or "Ticket",
                "prefee_price": Decimal(0) if free else _money((cost or {}).get("actual_cost")),
                "total_price": Decimal(0) if free else _money((cost or {}).get("cost")),
                "currency_code": currency,
                "quantity": tc.get("quantity_total", tc.get("capacity")),
            }
        )
    data = {
        "id": event["id"],
        "url": event.get("url") or None,
        "name": (event.get("name") or {}).get("text") or f"Event {event['id']}",
        "image_url": image,
        "description": description,
        "status": "canceled" if status in ("canceled", "cancelled") else "live",
        "start_datetime": start.get("utc"),
        "end_datetime": end.get("utc") or None,
        "time_zone": start.get("timezone") or None,
        "location": location,
        "ticket_types": ticket_types,
    }

    def drop_ticket_types(d: dict[str, Any]) -> None:
        d["ticket_types"] = []

    record: EventRecord | None = build(EventRecord, data, [drop_ticket_types])
    return record


def _drop_phone(data: dict[str, Any]) -> None:
    customer = data.get("customer") or data.get("contact") or {}
    customer.pop("phone", None)


def map_order(order: dict[str, Any]) -> OrderRecord | None:
    """An Eventbrite order (with attendees and contact_list_preferences expanded) → canonical order."""
    status = str(order.get("status") or "").lower()
    if status in _SKIPPED_ORDER_STATUSES:
        return None
    costs = order.get("costs") or {}
    currency = _currency(costs.get("gross"))
    attendees = [a for a in order.get("attendees") or [] if isinstance(a, dict)]
    profile = next((a.get("profile") or {} for a in attendees if a.get("profile")), {})
    phone = profile.get("cell_phone") or None

    items: dict[str, dict[str, Any]] = {}
    refunded = Decimal(0)
    for attendee in attendees:
        name = attendee.get("ticket_class_name") or "Ticket"
        a_costs = attendee.get("costs") or {}
        gross = _money(a_costs.get("gross")) or Decimal(0)
        base = _money(a_costs.get("base_price"))
        item = items.setdefault(
            name,
            {"ticket_type_name": name, "quantity": 0, "prefee_price": Decimal(0), "total_price": Decimal(0)},
        )
        item["quantity"] += int(attendee.get("quantity") or 1)
        item["prefee_price"] += base or Decimal(0)
        item["total_price"] += gross
        item["currency_code"] = _currency(a_costs.get("gross"), currency)
        if attendee.get("refunded"):
            refunded += gross
    if not items:
        # Without attendees (expansion unavailable) the order's own totals are all we know.
        items["order"] = {
            "ticket_type_name": None,
            "quantity": 1,
            "prefee_price": _money(costs.get("base_price")),
            "total_price": _money(costs.get("gross")) or Decimal(0),
            "currency_code": currency,
        }
    gross_total = _money(costs.get("gross")) or sum((i["total_price"] for i in items.values()), Decimal(0))
    if status == "refunded":
        canonical_status, refunded_amount = "refunded", gross_total
    elif status in _CANCELED_ORDER_STATUSES or (attendees and all(a.get("cancelled") for a in attendees)):
        canonical_status, refunded_amount = "canceled", refunded or None
    elif attendees and all(a.get("refunded") for a in attendees):
        canonical_status, refunded_amount = "refunded", refunded
    else:
        canonical_status, refunded_amount = "completed", refunded or None

    first = order.get("first_name") or profile.get("first_name")
    last = order.get("last_name") or profile.get("last_name")
    email = order.get("email") or profile.get("email")
    customer = {"email": email, "phone": phone, "first_name": first, "last_name": last}
    record: OrderRecord | None = build(
        OrderRecord,
        {
            "id": order["id"],
            "event_id": order.get("event_id"),
            "customer": customer,
            # has_opted_in is the list state now, not a checkout tick: it travels as the list state.
            "marketing_opt_ins": {},
            "items": list(items.values()),
            "created_at": order.get("created"),
            "status": canonical_status,
            "refunded_amount": refunded_amount,
            "list_email_opt_in": _list_email_opt_in(order),
            "list_observed_at": order.get("changed") or order.get("created"),
        },
        [_drop_phone],
    )
    return record


def _list_email_opt_in(order: dict[str, Any]) -> bool | None:
    """`has_opted_in: true` → True; false on an address in one of the organization's lists → False."""
    prefs = order.get("contact_list_preferences")
    if not isinstance(prefs, dict) or prefs.get("has_opted_in") is None:
        return None
    if prefs["has_opted_in"] is True:
        return True
    if prefs.get("has_contact_list") is True:
        return False
    return None  # never opted in is not an opt-out


# --- streams ---------------------------------------------------------------------------------------


class Organizations(Stream):
    """The organizations a token sees (checked at connect)."""

    name = "organizations"
    path = "users/me/organizations/"
    records_key = "organizations"
    paginator = ContinuationPaginator()


class Venues(Stream):
    name = "venues"
    path = "organizations/{organization_id}/venues/"
    records_key = "venues"
    paginator = ContinuationPaginator()


class TicketClasses(Stream):
    name = "ticket_classes"
    path = "events/{event_id}/ticket_classes/"
    records_key = "ticket_classes"
    paginator = ContinuationPaginator()


def _fetch_order(client: ApiClient, path: str, fallback: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        result: dict[str, Any] = client.get_json(path, {"expand": ORDER_EXPAND})
        return result
    except ExpansionFailed:
        if fallback is not None:
            return fallback
        plain: dict[str, Any] = client.get_json(path)
        return plain


def iso_z(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_z(value: str) -> float:
    return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


class Events(SnapshotStream):
    """Every event of the organization; one is re-emitted (and its ticket classes fetched) only when
    its `changed`, or its venue's name or address, differs from the checkpoint's."""

    name = "events"
    path = "organizations/{organization_id}/events/"
    records_key = "events"
    paginator = ContinuationPaginator()
    replication_key = "changed"
    params = {"status": "all", "order_by": "created_asc", "page_size": 50}

    def prepare(self, run: SyncRun) -> None:
        venues: dict[str, dict[str, Any]] = {}
        for venue in Venues(self.client, self.context).records():
            venues[str(venue["id"])] = venue_summary(venue)
        self.venues = venues

    def signature(self, raw: dict[str, Any]) -> str:
        return event_signature(raw, self.venues)

    def map_record(self, raw: dict[str, Any]) -> EventRecord | None:
        if str(raw.get("status") or "").lower() == "draft":
            return None  # drafts are never emitted: no need to read their ticket classes
        return map_event(raw, self.venues, ticket_classes(self.client, str(raw["id"])))


def ticket_classes(client: ApiClient, event_id: str) -> list[dict[str, Any]]:
    return list(TicketClasses(client, {"event_id": event_id}).records())


class Orders(IncrementalStream):
    """Organization orders changed since the cursor less the overlap, with attendees and consent
    expanded; on EXPANSION_FAILED the page is fetched again without `expand`."""

    name = "orders"
    path = "organizations/{organization_id}/orders/"
    records_key = "orders"
    paginator = ContinuationPaginator()
    replication_key = "changed"
    params = {"status": "both", "expand": ORDER_EXPAND}
    shape = ORDER_PAGE
    since_param = "changed_since"
    cursor_type = str
    restart_codes = frozenset({"BAD_CONTINUATION_TOKEN"})

    def shift(self, cursor: Any, seconds: int) -> Any:
        return iso_z(parse_z(str(cursor)) - seconds)

    def map_record(self, raw: dict[str, Any]) -> tuple[OrderRecord | None, None]:
        return map_order(raw), None

    def fetch(self, params: dict[str, Any]) -> Any:
        try:
            return self.client.get_json(self.url_path, params, self.shape)
        except ExpansionFailed:
            plain = {k: v for k, v in params.items() if k != "expand"}
            body = self.client.get_json(self.url_path, plain)
            # Enrich each order singly (with the expansion, then without), so consent is not lost.
            enriched = []
            for order in body.get("orders") or []:
                enriched.append(_fetch_order(self.client, f"orders/{order['id']}/", fallback=order))
            body["orders"] = enriched
            return body


# --- webhooks ----------------------------------------------------------------------------------------


class EventbriteWebhooks(WebhookHandler):
    """Eventbrite signs nothing and sends only an `api_url`: a delivery is accepted for this
    connection's own webhook ids and API host, and processing re-fetches what it names."""

    responses = {403: "a webhook_id this connection did not create, or an api_url off its API host"}

    def accept(
        self,
        info: Any,
        headers: Mapping[str, str],
        raw_body: bytes,
        body: dict[str, Any],
        query: Mapping[str, str],
    ) -> Accepted | Rejected:
        config = body.get("config") if isinstance(body.get("config"), dict) else {}
        hook_id = str((config or {}).get("webhook_id") or "")
        if hook_id not in {str(h) for h in info.settings.get("webhook_ids", [])}:
            return Rejected(403, "unknown webhook_id for this connection")
        api_url = str(body.get("api_url") or "")
        # Never fetch a URL the body names unless it is on this connection's own API.
        if not is_under(info.base_url, api_url):
            return Rejected(403, "api_url is not on this connection's API host")
        kind = str((config or {}).get("action") or "unknown")[:64]
        # Eventbrite sends no delivery id: a signal about the same object still waiting covers this one.
        return Accepted(kind, {"api_url": api_url, "config": config}, None, f"{kind} {api_url}"[:500], coalesce=True)

    def process(self, delivery: Delivery, context: WebhookContext) -> WebhookOutcome:
        connector = context.connector
        assert isinstance(connector, EventbriteConnector)
        return connector.process_webhook(delivery.body, delivery.attempts, delivery.age_seconds)


# --- the connector ---------------------------------------------------------------------------------


class EventbriteConnector(Connector):
    platform = PLATFORM
    label = "Eventbrite"
    summary = "Connect an Eventbrite organization (token checked with GET /users/me/)."
    default_base_url = API_BASE
    fields = (
        Field("token", "private token", "Eventbrite private token (OAuth token)."),
        Field(
            "organization_id",
            "Eventbrite organization",
            "Eventbrite organization id (asked when several).",
            secret=False,
            required=False,
            credential=False,
            on_form=False,
        ),
        Field(
            "webhook_id",
            "webhook id",
            "Id of a webhook you created in Eventbrite's dashboard (repeatable).",
            secret=False,
            required=False,
            credential=False,
            on_form=False,
            repeatable=True,
        ),
    )
    streams = (Events, Orders)
    webhooks = EventbriteWebhooks()
    registers_webhooks = True

    @classmethod
    def make_client(
        cls, base_url: str, credentials: Mapping[str, Any], settings: Settings, options: ClientOptions
    ) -> ApiClient:
        token = str(credentials["token"])
        return options.client(
            base_url,
            classify,
            headers={"Authorization": f"Bearer {token}"},
            budget=options.budget(token, settings.eventbrite_calls_per_hour),
        )

    @property
    def organization_id(self) -> str:
        return str(self.info.settings["organization_id"])

    # -- connect ------------------------------------------------------------------------------
    def verify(self) -> dict[str, Any]:
        me = self.client.get_json("users/me/")
        organizations = [{"id": str(o["id"]), "name": o.get("name")} for o in Organizations(self.client).records()]
        return {"user": {"id": me.get("id"), "name": me.get("name")}, "organizations": organizations}

    def plan(self, values: Mapping[str, Any], found: dict[str, Any]) -> Plan:
        organizations: list[dict[str, Any]] = found["organizations"]
        wanted = values.get("organization_id")
        if not wanted:
            if not organizations:
                raise ConnectorError("this token sees no Eventbrite organization")
            if len(organizations) > 1:
                raise ChoiceNeeded(
                    "this token can see several Eventbrite organizations; choose one with --organization-id",
                    "organization_id",
                    organizations,
                )
            wanted = organizations[0]["id"]
        chosen = next((o for o in organizations if o["id"] == str(wanted)), None)
        if chosen is None:
            raise ConnectorError(f"Eventbrite organization {wanted} is not visible to this token")
        # Deliveries are accepted only for webhook ids that belong to this connection.
        hooks = sorted({str(h) for h in values.get("webhook_id") or []})
        return Plan(
            chosen.get("name") or "",
            {"organization_id": chosen["id"], "webhook_ids": hooks},
            {"eventbrite_organization_id": chosen["id"]},
        )

    def check_reconnect(self, found: dict[str, Any]) -> None:
        if str(self.info.settings.get("organization_id")) not in {o["id"] for o in found["organizations"]}:
            raise ConnectorError("this token cannot see the connection's Eventbrite organization")

    def register_webhook(self, endpoint_url: str) -> str:
        hook = self.client.request(
            "POST",
            f"organizations/{self.organization_id}/webhooks/",
            json={"endpoint_url": endpoint_url, "actions": WEBHOOK_ACTIONS},
        ).json()
        return str(hook["id"])

    # -- sync ---------------------------------------------------------------------------------
    def stream_context(self) -> dict[str, str]:
        return {"organization_id": self.organization_id}

    def configure(self, stream: Any) -> Any:
        if isinstance(stream, Orders):
            stream.lookback_seconds = self.settings.eventbrite_order_overlap_minutes * 60
        return stream

    def venues(self) -> dict[str, dict[str, Any]]:
        return {str(v["id"]): venue_summary(v) for v in Venues(self.client, self.stream_context()).records()}

    # -- webhooks -------------------------------------------------------------------------------
    def process_webhook(self, body: dict[str, Any], attempts: int, age_seconds: float) -> WebhookOutcome:
        """Re-fetch what `api_url` names with the stored token and map it (404 → NotFoundError → retry)."""
        api_url = str(body.get("api_url") or "")
        action = str((body.get("config") or {}).get("action") or "")
        if not self.client.is_own_url(api_url):
            raise ConnectorError("api_url is not on this connection's API host", code="FOREIGN_URL")
        path = api_url.split("?", 1)[0]
        kind = action.split(".", 1)[0]
        outcome = WebhookOutcome()
        if kind == "order" or kind == "attendee":
            if kind == "attendee":
                attendee = self.client.get_json(path)
                path = self.client.url(f"orders/{attendee['order_id']}/")
            record = map_order(_fetch_order(self.client, path))
            outcome.orders += [record] if record is not None else []
        elif kind in ("event", "ticket_class"):
            if kind == "ticket_class":
                path = path.split("/ticket_classes/", 1)[0] + "/"
            event = self.client.get_json(path)
            record_event = map_event(event, self.venues(), ticket_classes(self.client, str(event["id"])))
            outcome.events += [record_event] if record_event is not None else []
        elif kind == "venue":
            # Events show the venue's name and address: the next sync re-emits the events using it.
            outcome.note = "venue changed; events refresh on the next sync"
        else:
            outcome.note = f"action {action!r} carries nothing fanhub keeps"
        # Eventbrite may serve a stale copy for a few minutes after a change: look once more later.
        if attempts <= 1 and age_seconds < 300 and kind in ("order", "attendee", "event", "ticket_class"):
            outcome.recheck_after = max(30.0, 300 - age_seconds)
        return outcome
