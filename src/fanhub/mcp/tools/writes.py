"""Write tools (mcp:write, each call audited): campaign drafts, tagging contacts, starting a sync.

None of them sends a campaign or changes anyone's consent.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from fanhub.audience.label_queries import check_segment_names
from fanhub.audience.labels import TAG, change_labels
from fanhub.audience.segments import count_audience
from fanhub.audience.service import tag_ids_by_name
from fanhub.campaigns.service import create_campaign
from fanhub.connectors.base import ConnectorError
from fanhub.connectors.jobs import SYNC_SLICE_SECONDS
from fanhub.connectors.service import get_connection, run_sync
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import ContactIds, TagName, WriteCall, bad, write_tool
from fanhub.mcp.tools.campaigns import campaign_view

CREATES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
IDEMPOTENT = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
REACHES_OUT = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


@write_tool(CREATES)
def create_campaign_draft(
    call: WriteCall,
    type: Annotated[Literal["email", "sms"], Field(description="email or sms.")],
    name: Annotated[str, Field(min_length=1, max_length=300, description="Internal campaign name.")],
    body: Annotated[str, Field(min_length=1, description="Message body (email HTML/text or SMS text).")],
    segment: Annotated[
        s.Segment, Field(description="Audience, same format as count_audience; {} is everyone subscribed.")
    ],
    subject: Annotated[str | None, Field(description="Email subject line (required for email).")] = None,
    event_id: Annotated[int | None, Field(ge=1, description="The event this campaign promotes.")] = None,
) -> s.CampaignDraft:
    """Create a campaign DRAFT for staff to review; it is not scheduled and nothing is sent.

    Every tag, list, genre and event the segment names must exist (an unknown one is an error naming
    it). The result says how many contacts the draft would reach on each channel, and warns when its
    own channel reaches nobody. Needs an mcp:write token; the call is audited. A person sends it later
    from the manager or CLI.
    """
    # The body is left out of the audit entry: it can be long, and the draft itself keeps it.
    arguments = {"type": type, "name": name, "subject": subject, "segment": segment.as_dict(), "event_id": event_id}
    org = call.actor.organization_id
    with call.audited(arguments) as (session, result):
        audience = check_segment_names(session, org, segment.as_dict(), "segment")
        # The campaigns domain validates type, subject, body and event_id (naming the field).
        campaign = create_campaign(
            session,
            org,
            type=type,
            name=name,
            body=body,
            subject=subject,
            audience=audience,
            event_id=event_id,
            created_by=call.actor.audit,
        )
        session.flush()
        view = campaign_view(session, org, campaign.id)
        counts = count_audience(session, org, audience)
        result.update({"campaign_id": campaign.id, "recipients": counts})
    return s.CampaignDraft(
        campaign=view,
        recipients=s.Recipients(email=counts["email"], sms=counts["sms"]),
        warnings=_draft_warnings(type, counts),
        note="Draft only: nothing was scheduled or sent. Staff review and send it from the manager or CLI.",
    )


def _draft_warnings(channel: str, counts: dict[str, int]) -> list[str]:
    if counts[channel]:
        return []
    other = "sms" if channel == "email" else "email"
    hint = f" ({counts[other]} would be reachable by {other})" if counts[other] else ""
    word = "SMS" if channel == "sms" else "email"
    return [
        f"No contact in this segment is subscribed to {word}, so this draft would reach nobody{hint}; "
        "check the segment with count_audience before staff schedule it."
    ]


def _change_tag(call: WriteCall, contact_ids: list[int], tag: str, add: bool) -> s.TagChange:
    name = tag.strip()
    if not name:
        raise bad("tag", "must not be empty")
    ids = sorted(set(contact_ids))
    with call.audited({"contact_ids": ids, "tag": name}) as (session, result):
        tag_id = tag_ids_by_name(session, call.actor.organization_id, [name]).get(name)
        if tag_id is None:
            raise bad("tag", f"no tag named {name!r} in this organization (staff create tags in the manager)")
        # The one rule for tags on contacts (another organization's contact ids are refused there).
        change = change_labels(session, call.actor, TAG, tag_id, ids, add)
        result.update({"changed": change.changed})
    return s.TagChange(tag=name, contact_ids=ids, changed=change.changed)


@write_tool(IDEMPOTENT)
def tag_contacts(call: WriteCall, contact_ids: ContactIds, tag: TagName) -> s.TagChange:
    """Add an existing tag to contacts (mcp:write; audited). Does not touch consent."""
    return _change_tag(call, contact_ids, tag, True)


@write_tool(IDEMPOTENT)
def untag_contacts(call: WriteCall, contact_ids: ContactIds, tag: TagName) -> s.TagChange:
    """Remove a tag from contacts (mcp:write; audited). Does not touch consent."""
    return _change_tag(call, contact_ids, tag, False)


@write_tool(REACHES_OUT)
def sync_connection(
    call: WriteCall,
    connection_id: Annotated[int, Field(ge=1, description="Id of a ticketing platform connection.")],
) -> s.SyncStarted:
    """Sync one ticketing platform connection (Eventbrite, Ticket Tailor, Ticketor) now.

    Runs one bounded slice of the sync (at most about 20 seconds); a longer sync continues in the
    background worker. New orders are applied by the worker shortly after. mcp:write; audited.
    """
    arguments = {"connection_id": connection_id}
    # The sync commits in its own transactions (and calls the platform), so it cannot run inside an
    # audited transaction: its outcome is recorded afterwards, a failure too.
    try:
        with call.database.read() as session:
            platform = get_connection(session, call.actor.organization_id, connection_id).platform
        # The connectors domain claims the connection, syncs from its checkpoints and records the outcome.
        try:
            outcome = run_sync(call.database, connection_id, deadline=time.monotonic() + SYNC_SLICE_SECONDS)
        except ConnectorError as exc:
            raise ToolError(f"the sync of connection {connection_id} failed: {exc}") from None
    except Exception as exc:
        call.record(arguments, "error", {}, exc)
        raise
    call.record(arguments, "ok", {**outcome.summary(), "finished": outcome.finished}, None)
    return s.SyncStarted(
        connection_id=connection_id,
        platform=platform,
        finished=outcome.finished,
        events=outcome.events,
        orders=outcome.orders,
        contacts=outcome.contacts,
        note="Finished." if outcome.finished else "Stopped after its time slice; the worker continues it.",
    )
