"""MCP resources: an event, its attendees as CSV, a contact, a campaign (read with the caller's scope).

Each is a plain function `(session, actor, id)` returning the resource's text; an id that is not a
positive number, or is another organization's, is "not found" as the protocol names it.
"""

from __future__ import annotations

import json

from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from sqlalchemy.orm import Session

from fanhub.audience.attendees import attendee_csv
from fanhub.auth.actor import Actor
from fanhub.campaigns.service import get_campaign
from fanhub.errors import NotFound
from fanhub.mcp.tools.campaigns import campaign_view
from fanhub.mcp.tools.contacts import contact_details
from fanhub.mcp.tools.events import event_details


def _id(value: str, kind: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ResourceNotFoundError(f"{kind} {value!r} not found")
    return int(value)


def event_resource(session: Session, actor: Actor, id: str) -> str:
    """An event with ticket types and sales figures (as get_event_details)."""
    try:
        return event_details(session, actor.organization_id, _id(id, "event")).model_dump_json(indent=2)
    except NotFound:
        raise ResourceNotFoundError(f"event {id} not found") from None


def event_attendees_csv(session: Session, actor: Actor, id: str) -> str:
    """The event's buyers as CSV (as export_attendee_data)."""
    try:
        return attendee_csv(session, actor.organization_id, _id(id, "event"))[0]
    except NotFound:
        raise ResourceNotFoundError(f"event {id} not found") from None


def contact_resource(session: Session, actor: Actor, id: str) -> str:
    """A contact with identities, consent history, orders and campaign touches (as get_contact)."""
    try:
        return contact_details(session, actor.organization_id, _id(id, "contact")).model_dump_json(indent=2)
    except NotFound:
        raise ResourceNotFoundError(f"contact {id} not found") from None


def campaign_resource(session: Session, actor: Actor, id: str) -> str:
    """A campaign with its body and audience."""
    try:
        campaign_id = _id(id, "campaign")
        view = campaign_view(session, actor.organization_id, campaign_id)
    except NotFound:
        raise ResourceNotFoundError(f"campaign {id} not found") from None
    body = get_campaign(session, actor.organization_id, campaign_id).body
    return json.dumps({**view.model_dump(mode="json"), "body": body}, indent=2)
