"""Contact tools: search the audience, one contact (or buyer) in full, audience counts for a segment."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.audience.label_queries import check_segment_names
from fanhub.audience.models import SUBSCRIBED
from fanhub.audience.queries import ContactFilter, find_contact_id_by_email, find_contacts
from fanhub.audience.queries import get_contact as contact_view
from fanhub.audience.segments import count_audience as counter
from fanhub.audience.vocabulary import canonical_genre
from fanhub.auth.actor import Actor
from fanhub.campaigns.history import CampaignTouch, contact_campaign_history
from fanhub.catalog.reports import contact_orders, get_owned_event
from fanhub.errors import InvalidInput
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import DEFAULT_PAGE_SIZE, ContactId, Page, PageSize, bad, page_request, read_tool
from fanhub.timeutil import iso_utc


def contact_summary(view: dict[str, Any]) -> dict[str, Any]:
    return {
        **view,
        "email_subscription": view["subscriptions"]["email"]["status"],
        "sms_subscription": view["subscriptions"]["sms"]["status"],
        "lists": [item["name"] for item in view["lists"]],
    }


def contact_details(session: Session, organization_id: int, contact_id: int) -> s.ContactDetails:
    """The contact in full (get_contact, get_attendee_details and the fanhub://contacts/{id} resource)."""
    view = contact_view(session, organization_id, contact_id, with_ledger=True)
    return s.ContactDetails.model_validate(
        {
            **contact_summary(view),
            "orders": contact_orders(session, organization_id, contact_id),
            "campaign_touches": [_touch(t) for t in contact_campaign_history(session, organization_id, contact_id)],
            "resource_uri": f"fanhub://contacts/{contact_id}",
        }
    )


def _touch(touch: CampaignTouch) -> dict[str, Any]:
    return {
        "campaign_id": touch.campaign_id,
        "campaign_name": touch.campaign,
        "channel": touch.channel,
        "status": touch.status,
        "sent_at": iso_utc(touch.sent_at),
        "opened_at": iso_utc(touch.opened_at),
        "clicked_at": iso_utc(touch.clicked_at),
        "unsubscribed_at": iso_utc(touch.unsubscribed_at),
    }


@read_tool()
def get_attendee_details(
    session: Session,
    actor: Actor,
    contact_id: Annotated[int | None, Field(ge=1, description="fanhub contact id; give this or email.")] = None,
    email: Annotated[str | None, Field(description="The buyer's email address; give this or contact_id.")] = None,
) -> s.ContactDetails:
    """One buyer in full, found by contact_id or email: identities, consent, orders across all events."""
    if (contact_id is None) == (email is None or not email.strip()):
        raise bad("contact_id", "give exactly one of contact_id or email")
    if contact_id is None:
        assert email is not None
        contact_id = find_contact_id_by_email(session, actor.organization_id, email)
    return contact_details(session, actor.organization_id, contact_id)


def _check_names(
    session: Session, organization_id: int, tag: str | None, list_id: int | None, genre: str | None
) -> None:
    """A misspelt tag, a list or genre this organization does not have is an error, not an empty page."""
    wanted = {
        "tags": [tag] if tag else None,
        "list_ids": [list_id] if list_id else None,
        "genres": [genre] if genre else None,
    }
    try:
        check_segment_names(session, organization_id, wanted)
    except InvalidInput as exc:
        key = str(exc.errors[0]["field"]).split(".")[-1]
        argument = {"tags": "tag", "list_ids": "list_id", "genres": "genre"}.get(key, key)
        raise bad(argument, str(exc.errors[0]["message"])) from None


@read_tool()
def search_contacts(
    session: Session,
    actor: Actor,
    query: Annotated[str | None, Field(description="Text found in the name, email or phone.")] = None,
    email: Annotated[str | None, Field(description="Exact email (any case).")] = None,
    phone: Annotated[str | None, Field(description="Exact phone, any format (normalised to E.164).")] = None,
    tag: Annotated[str | None, Field(description="Tag name.")] = None,
    list_id: Annotated[int | None, Field(ge=1, description="List id.")] = None,
    genre: Annotated[str | None, Field(description="Genre, e.g. Rock.")] = None,
    subscribed_to: Annotated[
        Literal["email", "sms"] | None, Field(description="Only contacts currently subscribed on this channel.")
    ] = None,
    bought_event_id: Annotated[
        int | None, Field(ge=1, description="Only contacts holding a completed order for this event.")
    ] = None,
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> s.ContactList:
    """Find contacts (the organization's audience, merged across all sources); filters combine with AND.

    Returns each contact's id, identities, subscription state, tags, lists and genres; call get_contact
    for consent history, orders and campaign touches.
    """
    genre = canonical_genre(genre) if genre else None
    _check_names(session, actor.organization_id, tag, list_id, genre)
    contact_filter = ContactFilter(
        q=(query or "").strip(),
        email=email,
        phone=phone,
        tag_name=tag,
        list_id=list_id,
        genre=genre or "",
        email_status=SUBSCRIBED if subscribed_to == "email" else "",
        sms_status=SUBSCRIBED if subscribed_to == "sms" else "",
        bought_event_id=bought_event_id,
    )
    if bought_event_id is not None:
        # Another organization's event is an error, not an empty page.
        get_owned_event(session, actor.organization_id, bought_event_id)
    found = find_contacts(session, actor.organization_id, page_request(page, page_size), contact_filter)
    return s.ContactList(
        contacts=[s.ContactSummary.model_validate(contact_summary(v)) for v in found.items],
        paging=s.paging("search_contacts", page, page_size, found.has_more),
    )


@read_tool()
def get_contact(session: Session, actor: Actor, contact_id: ContactId) -> s.ContactDetails:
    """One contact in full: identities, the source records merged into it, consent history, orders and
    campaign touches."""
    return contact_details(session, actor.organization_id, contact_id)


@read_tool()
def count_audience(
    session: Session,
    actor: Actor,
    segment: Annotated[
        s.Segment,
        Field(description='The audience, e.g. {"tags": ["VIP"], "bought_event_ids": [12]}; {} is everyone.'),
    ],
) -> s.AudienceCount:
    """How many contacts a campaign to this segment would reach on each channel (email, SMS).

    Only contacts currently subscribed on a channel count for it. Use before create_campaign_draft.
    """
    wanted = check_segment_names(session, actor.organization_id, segment.as_dict(), "segment")
    counts = counter(session, actor.organization_id, wanted)
    return s.AudienceCount(segment=wanted, email=int(counts["email"]), sms=int(counts["sms"]))
