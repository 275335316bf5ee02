"""Input and output models of the MCP tools: their JSON schemas are what a model reads to call them.

Every tool returns one of these as structured content, with its `summary()` (a few short lines: what
was found, the ids to use next, how to page, any warning) as the text. Money is in major units
(40.0 = forty dollars) with its ISO currency code next to it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SUMMARY_ITEMS = 10


SUBSCRIPTION_STATES = "subscribed, unsubscribed, pending (double opt-in not yet confirmed) or unknown."


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def label(self) -> str:
        """`#id name` for anything with an id and a name (or an email)."""
        fields = self.__dict__
        ident = next((fields[k] for k in ("id", "order_id", "contact_id", "campaign_id") if fields.get(k)), None)
        name = next((fields[k] for k in ("name", "full_name", "email", "external_id") if fields.get(k)), None)
        return " ".join(part for part in (f"#{ident}" if ident else "", str(name or "")) if part) or type(self).__name__

    def summary(self) -> str:
        """The first list of results (count, first items, paging), or this item's label; then warnings."""
        lines: list[str] = []
        for name, value in self.__dict__.items():
            if isinstance(value, list) and (not value or isinstance(value[0], Out)):
                paging = self.__dict__.get("paging")
                where = ""
                if isinstance(paging, Paging):
                    where = f" (page {paging.page}" + (f", more: page={paging.next_page})" if paging.has_more else ")")
                lines.append(f"{len(value)} {name.replace('_', ' ')}{where}")
                lines += [f"- {item.label()}" for item in value[:SUMMARY_ITEMS]]
                if len(value) > SUMMARY_ITEMS:
                    lines.append(f"- ... {len(value) - SUMMARY_ITEMS} more in the structured content")
                break
        else:
            lines.append(self.label())
        lines += [f"Warning: {w}" for w in self.__dict__.get("warnings") or []]
        return "\n".join(lines)


class Paging(Out):
    """Where this page sits and how to get the next one."""

    page: int = Field(description="This page's number, from 1.")
    page_size: int = Field(description="Items per page (at most 100).")
    has_more: bool = Field(description="True when another page exists.")
    next_page: int | None = Field(description="The `page` argument for the next page, or null on the last page.")
    hint: str = Field(description="How to continue, in words.")


def paging(tool: str, page: int, page_size: int, has_more: bool) -> Paging:
    hint = (
        f"More results: call {tool} again with the same arguments and page={page + 1}."
        if has_more
        else "This is the last page."
    )
    return Paging(
        page=page, page_size=page_size, has_more=has_more, next_page=page + 1 if has_more else None, hint=hint
    )


# --- events ------------------------------------------------------------------------------------------


class TicketTypeOut(Out):
    name: str
    prefee_price: float | None = Field(None, description="Price before fees, major units.")
    total_price: float | None = Field(None, description="Price with fees, major units.")
    currency_code: str
    quantity: int | None = Field(None, description="Capacity of this ticket type, when the source says.")


class EventSummary(Out):
    id: int = Field(description="fanhub event id: pass it as event_id to the other tools.")
    name: str
    source: str = Field(description="Who supplied the event: partner:<name>, eventbrite:<connection id>, ...")
    external_id: str = Field(description="The event's id at its source.")
    status: str = Field(description="live or canceled.")
    start_datetime: str | None = Field(description="Start, RFC 3339 UTC.")
    end_datetime: str | None = None
    time_zone: str | None = Field(None, description="The venue's IANA time zone, when known.")
    venue: str | None = None
    url: str | None = None
    tickets_sold: int = Field(description="Tickets of completed orders.")
    net_revenue: float | None = Field(description="Completed orders' totals minus partial refunds, major units.")
    currency_code: str


class EventList(Out):
    events: list[EventSummary]
    paging: Paging


class SalesFigures(Out):
    """Sales in one currency. Canceled orders are ignored."""

    currency_code: str
    orders: int = Field(description="Completed and refunded orders.")
    tickets_sold: int = Field(description="Tickets of completed orders (refunded orders give theirs back).")
    gross_revenue: float | None = Field(description="Totals of completed and refunded orders.")
    refunds: float | None = Field(description="Partial refunds plus the totals of refunded orders.")
    net_revenue: float | None = Field(description="gross_revenue - refunds.")
    refunded_orders: int


class EventDetails(EventSummary):
    description: str | None = None
    doors_open_datetime: str | None = None
    venue_address: str | None = None
    performers: list[str] = []
    tags: list[str] = []
    image_url: str | None = None
    ticket_types: list[TicketTypeOut]
    attendees: int = Field(description="Contacts holding at least one completed order for this event.")
    sales: list[SalesFigures] = Field(description="Sales figures, one entry per currency.")
    resource_uri: str

    def summary(self) -> str:
        money = ", ".join(f"{f.net_revenue} {f.currency_code} net" for f in self.sales) or "no sales"
        return (
            f"{self.label()} ({self.status}, starts {self.start_datetime}, source {self.source}): "
            f"{self.tickets_sold} tickets sold to {self.attendees} attendees, {money}."
        )


# --- attendees and contacts --------------------------------------------------------------------------


class TicketLine(Out):
    name: str | None
    quantity: int


class AttendeeOrder(Out):
    order_id: int
    source: str
    external_id: str
    status: str = Field(description="completed, refunded or canceled.")
    tickets: int
    total_price: float | None
    refunded_amount: float | None
    currency_code: str
    placed_at: str | None
    ticket_types: list[TicketLine]


class Attendee(Out):
    contact_id: int
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    tickets: int = Field(description="Tickets held (completed orders).")
    email_subscription: str = Field(description=SUBSCRIPTION_STATES)
    sms_subscription: str = Field(description=SUBSCRIPTION_STATES)
    orders: list[AttendeeOrder]


class AttendeeList(Out):
    event_id: int
    event_name: str
    attendees: list[Attendee]
    paging: Paging


class ContactOrder(Out):
    order_id: int
    event_id: int | None
    event_name: str | None
    source: str
    status: str
    tickets: int
    total_price: float | None
    refunded_amount: float | None
    currency_code: str
    placed_at: str | None


class ContactSummary(Out):
    id: int = Field(description="fanhub contact id: pass it as contact_id to the other tools.")
    email: str | None
    phone: str | None = Field(description="E.164.")
    first_name: str | None
    last_name: str | None
    full_name: str | None
    email_subscription: str = Field(description=SUBSCRIPTION_STATES)
    sms_subscription: str = Field(description=SUBSCRIPTION_STATES)
    tags: list[str]
    lists: list[str]
    genres: list[str]

    def label(self) -> str:
        name = self.full_name or " ".join(n for n in (self.first_name, self.last_name) if n)
        reach = ", ".join(x for x in (self.email, self.phone) if x)
        return f"#{self.id} {name} ({reach})" if name else f"#{self.id} {reach}"


class ContactList(Out):
    contacts: list[ContactSummary]
    paging: Paging


class SourceRecord(Out):
    source: str
    email: str | None
    phone: str | None
    name: str | None
    records: int
    first_seen_at: str | None
    last_seen_at: str | None


class ConsentEntry(Out):
    channel: str
    subscribed: bool
    status: str = Field(description="The state after the change: subscribed, unsubscribed, pending or unknown.")
    source: str
    via: str = Field(
        description="How the source expressed it, e.g. order.marketing_opt_ins, unsubscribe_link, "
        "form (signup form), form.pending (double opt-in asked), form.confirm, sms_confirm."
    )
    occurred_at: str | None
    recorded_at: str | None
    form_id: int | None = Field(default=None, description="The signup form that made the change (proof of consent).")
    consent_text: str | None = Field(default=None, description="The exact consent wording the form showed.")
    page_url: str | None = Field(default=None, description="The page the form was on.")


class CampaignTouch(Out):
    """One campaign delivery to the contact and what the contact did with it."""

    campaign_id: int
    campaign_name: str
    channel: str = Field(description="email or sms.")
    status: str = Field(description="The delivery's state, e.g. sent, bounced, failed, skipped.")
    sent_at: str | None
    opened_at: str | None = Field(description="First counted (human) open; email only.")
    clicked_at: str | None = Field(description="First click.")
    unsubscribed_at: str | None


class ContactDetails(ContactSummary):
    address: str | None
    birthday: str | None
    created_at: str | None
    sources: list[SourceRecord] = Field(description="Each source's record merged into this contact.")
    consent_history: list[ConsentEntry] = Field(description="The consent ledger, oldest first.")
    interests: list[dict[str, Any]] = Field(description="Events the contact said they were interested in.")
    orders: list[ContactOrder] = Field(description="Most recent orders first (at most 50).")
    campaign_touches: list[CampaignTouch] = Field(description="Campaign deliveries, newest first (at most 50).")
    resource_uri: str

    def summary(self) -> str:
        return (
            f"Contact {self.label()}: email {self.email_subscription}, SMS {self.sms_subscription}; "
            f"{len(self.orders)} orders, {len(self.campaign_touches)} campaign touches, tags: "
            f"{', '.join(self.tags) or 'none'}."
        )


# --- reports -----------------------------------------------------------------------------------------


class SalesRow(SalesFigures):
    group: str = Field(description="The day (YYYY-MM-DD, UTC), ticket type name or source of this row.")


class SalesReport(Out):
    group_by: Literal["day", "ticket_type", "source"]
    event_id: int | None
    start_date: str | None = Field(description="Inclusive lower bound on order time (UTC), if any.")
    end_date: str | None = Field(description="Exclusive upper bound on order time (UTC), if any.")
    rows: list[SalesRow]
    totals: list[SalesFigures] = Field(description="All rows added up, one entry per currency.")

    def summary(self) -> str:
        totals = "; ".join(
            f"{t.currency_code}: {t.tickets_sold} tickets, {t.net_revenue} net of {t.gross_revenue} gross"
            for t in self.totals
        )
        return f"{len(self.rows)} rows by {self.group_by}. Totals: {totals or 'no sales'}."


class ExportInfo(Out):
    event_id: int
    event_name: str
    rows: int = Field(description="Attendees in the CSV (one row per contact).")
    columns: list[str]
    resource_uri: str = Field(description="Read this resource to fetch the CSV again.")

    def summary(self) -> str:
        return f"{self.rows} attendee(s) of {self.event_name!r} (event {self.event_id}) as CSV: {self.resource_uri}"


class ChartInfo(Out):
    title: str
    subject: str = Field(description="event, campaign or organization.")
    days: int = Field(description="Days plotted.")
    currency_code: str | None
    tickets_sold: int
    net_revenue: float | None
    png_bytes: int

    def summary(self) -> str:
        return (
            f"Chart {self.title!r} ({self.days} days): {self.tickets_sold} tickets, "
            f"{self.net_revenue} {self.currency_code or ''} net revenue. The PNG is the image content."
        )


# --- audience and campaigns --------------------------------------------------------------------------


class Segment(BaseModel):
    """A campaign audience; keys combine with AND, values within a key with OR; {} means everyone."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] | None = Field(None, description="Tag names.")
    list_ids: list[int] | None = Field(None, description="List ids.")
    genres: list[str] | None = Field(None, description="Genres, e.g. Rock.")
    bought_event_ids: list[int] | None = Field(None, description="fanhub event ids the contact bought tickets for.")
    interested_event_ids: list[int] | None = Field(
        None, description="fanhub event ids the contact said they were interested in."
    )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class AudienceCount(Out):
    segment: dict[str, Any]
    email: int = Field(description="Contacts an email campaign would reach (valid address, email consent).")
    sms: int = Field(description="Contacts an SMS campaign would reach (E.164 number, SMS consent).")

    def summary(self) -> str:
        return f"This segment reaches {self.email} contact(s) by email and {self.sms} by SMS."


class CampaignSummary(Out):
    """A campaign as the campaigns service shows it (`CampaignView`), with who created it."""

    id: int
    type: str = Field(description="email or sms.")
    name: str
    subject: str | None
    status: str = Field(description="draft, scheduled, sending, paused, sent or cancelled.")
    event_id: int | None
    audience: dict[str, Any]
    created_by: str | None
    created_at: str | None
    scheduled_at: str | None
    delivered_at: str | None
    finished_at: str | None = None
    recipients: int = Field(0, description="Recipients once sending started.")
    delivered: int = 0
    undelivered: int = 0
    resource_uri: str

    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.type}, {self.status})"


class CampaignList(Out):
    campaigns: list[CampaignSummary]
    paging: Paging


class CampaignAnalytics(Out):
    campaign: CampaignSummary
    figures: dict[str, Any] = Field(
        description="num_recipients, num_opens (unique), num_links_clicked (unique), num_unsubscribes, "
        "num_undelivered, attributed_tickets_sold, attributed_revenue (minor units, e.g. cents) as the analytics "
        "endpoint reports them, plus num_delivered, num_skipped, attributed_orders and event counts; deliverability: "
        "num_hard_bounces, num_soft_bounces, num_complaints (spam reports) and num_suppressed (left out, never "
        "recipients)."
    )
    interval: str = Field(description="day or hour: the bucket of the time series (UTC).")
    time_series: dict[str, list[dict[str, Any]]] = Field(
        description="opens and clicks ({at, count}: first open/click per recipient) and attributed_orders "
        "({at, count, tickets, revenue} with revenue in minor units), by bucket start `at`."
    )

    def summary(self) -> str:
        shown: tuple[str, ...] = ("num_recipients", "num_opens", "num_links_clicked", "num_unsubscribes")
        shown += ("attributed_tickets_sold", "num_hard_bounces", "num_soft_bounces", "num_complaints", "num_suppressed")
        figures = ", ".join(f"{k.removeprefix('num_')} {self.figures[k]}" for k in shown if k in self.figures)
        return f"Campaign {self.campaign.label()}: {figures or 'no figures yet'}."


class Recipients(Out):
    email: int = Field(description="Contacts subscribed to email in the segment.")
    sms: int = Field(description="Contacts subscribed to SMS in the segment.")


class CampaignDraft(Out):
    campaign: CampaignSummary
    recipients: Recipients = Field(description="Who the draft would reach today, per channel.")
    warnings: list[str] = Field(description="What staff should know before sending it (e.g. it reaches nobody).")
    note: str

    def summary(self) -> str:
        reach = getattr(self.recipients, self.campaign.type)
        lines = [
            f"Draft campaign {self.campaign.label()} created; it would reach {reach} recipient(s) "
            f"(email {self.recipients.email}, SMS {self.recipients.sms}). {self.note}"
        ]
        return "\n".join(lines + [f"Warning: {w}" for w in self.warnings])


class TagChange(Out):
    tag: str
    contact_ids: list[int]
    changed: int = Field(description="Contacts whose tags actually changed.")

    def summary(self) -> str:
        return f"Tag {self.tag!r}: {self.changed} of {len(self.contact_ids)} contact(s) changed."


class SyncStarted(Out):
    connection_id: int
    platform: str
    finished: bool = Field(description="False when the slice ran out; the background worker carries on.")
    events: int = Field(description="Event records read from the platform in this slice.")
    orders: int = Field(description="Order records read from the platform in this slice.")
    contacts: int
    note: str

    def summary(self) -> str:
        return (
            f"Sync of connection {self.connection_id} ({self.platform}): {self.events} events, {self.orders} orders, "
            f"{self.contacts} contacts read. {self.note}"
        )


# --- connections, tags, lists, orders ------------------------------------------------------------------


class ConnectionOut(Out):
    id: int = Field(description="Connection id (for sync_connection).")
    platform: str = Field(description="eventbrite, tickettailor or ticketor.")
    name: str
    source: str = Field(description="The source its records carry, e.g. eventbrite:3 (list_events, list_orders).")
    status: str
    last_sync_at: str | None
    next_sync_at: str | None
    sync_interval_minutes: int
    counts: dict[str, int] = Field(description="Records handed to fanhub so far: events, orders, contacts, calls.")
    last_error: str | None
    last_error_at: str | None

    def label(self) -> str:
        return f"#{self.id} {self.source} {self.name} ({self.status}, last sync {self.last_sync_at or 'never'})"


class ConnectionList(Out):
    connections: list[ConnectionOut]


class LabelOut(Out):
    id: int
    name: str
    contacts: int = Field(description="Contacts carrying it.")
    created_at: str | None

    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.contacts} contacts)"


class TagList(Out):
    tags: list[LabelOut]
    paging: Paging


class ListList(Out):
    lists: list[LabelOut]
    paging: Paging


class OrderOut(Out):
    id: int = Field(description="fanhub order id.")
    source: str
    external_id: str = Field(description="The order's id at its source.")
    event_id: int | None
    event_name: str | None
    contact_id: int
    status: str = Field(description="completed, refunded or canceled.")
    tickets: int
    total_price: float | None
    refunded_amount: float | None
    currency_code: str
    placed_at: str | None
    items: list[dict[str, Any]] = Field(description="Ticket lines: ticket_type_name, quantity, total_price.")

    def label(self) -> str:
        event = self.event_name or self.event_id
        return (
            f"#{self.id} {self.source}/{self.external_id} {self.status}: {self.tickets} ticket(s), "
            f"{self.total_price} {self.currency_code}, contact {self.contact_id}, event {event}"
        )


class OrderList(Out):
    orders: list[OrderOut]
    paging: Paging
