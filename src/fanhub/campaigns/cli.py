"""`fanhub campaign create|edit|duplicate|delete|preview|send|cancel|pause|resume|recipients` and `fanhub campaigns`.

Which command applies in which state is `campaigns/lifecycle.py`'s rule; a refusal is an error
saying what the campaign is and what can be done instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import ProgressColumn, Task
from rich.text import Text
from sqlalchemy.orm import Session

from fanhub.clikit import JsonFlag, emit, fail, read_session, write_session

if TYPE_CHECKING:
    from fanhub.campaigns.models import Campaign
    from fanhub.campaigns.report_recipients import RecipientRow
    from fanhub.campaigns.schemas import CampaignView

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app

campaign_app = typer.Typer(help="Email and SMS campaigns.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")


@campaign_app.command("create")
def campaign_create(
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    type: Annotated[str, typer.Option("--type", help="email or sms.")],
    name: Annotated[str, typer.Option("--name", help="Internal name.")],
    body_file: Annotated[Path, typer.Option("--body-file", help="Template file (Jinja2 merge fields).")],
    subject: Annotated[str | None, typer.Option("--subject", help="Email subject (template).")] = None,
    event: Annotated[int | None, typer.Option("--event", help="fanhub event id for event merge fields.")] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help='Segment JSON, e.g. {"tags": ["VIP"]}; default everyone.')
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a draft campaign."""
    from fanhub.campaigns.service import create_campaign

    try:
        body = body_file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(as_json, f"cannot read --body-file: {exc}")
    segment: Any = None
    if audience:
        try:
            segment = json.loads(audience)
        except ValueError as exc:
            fail(as_json, f"--audience is not JSON: {exc}")
    with write_session(as_json) as session:
        campaign = create_campaign(
            session,
            org,
            type=type,
            name=name,
            body=body,
            subject=subject,
            audience=segment,
            event_id=event,
            created_by="cli",
        )
        result = {"id": campaign.id}
    emit(
        as_json,
        result,
        f"Created {type} campaign {result['id']} ({name}). Next: fanhub campaign preview {result['id']}",
    )


def _org_of(campaign_id: int, as_json: bool) -> int:
    from fanhub.campaigns.service import get_campaign_any

    with read_session(as_json) as session:
        return get_campaign_any(session, campaign_id).organization_id


@campaign_app.command("preview")
def campaign_preview(
    campaign_id: int,
    contact: Annotated[int | None, typer.Option("--contact", help="Render for this contact.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recipient count and one rendered message."""
    from fanhub.campaigns.service import preview_campaign

    org = _org_of(campaign_id, as_json)
    with read_session(as_json) as session:
        preview = preview_campaign(session, org, campaign_id, contact)
    sample = preview["sample"]
    human = (
        f"[bold]{preview['recipients']}[/bold] {preview['type']} recipients "
        f"(audience: {preview['audience']['email']} email, {preview['audience']['sms']} SMS)\n"
        f"To: {sample['to']}\n"
        + (f"Subject: {sample['subject']}\n\n{sample['text']}" if preview["type"] == "email" else sample["body"])
    )
    emit(as_json, preview, human)


def _parse_at(value: str, org: int, as_json: bool) -> datetime:
    """RFC 3339 with an offset, or a local time read in the organization's time zone."""
    from fanhub.campaigns.service import organization_zone, parse_send_time
    from fanhub.errors import InvalidInput

    with read_session(as_json) as session:
        zone = organization_zone(session, org)
    try:
        return parse_send_time(value, zone)
    except InvalidInput as exc:
        fail(as_json, f"--at: {exc.errors[0]['message'] if exc.errors else exc.message}")


def _local_time(when: datetime | None, org: int, as_json: bool) -> str:
    """`when` in the organization's time zone, naming the zone."""
    from zoneinfo import ZoneInfo

    from fanhub.campaigns.service import organization_zone

    if when is None:
        return "now"
    with read_session(as_json) as session:
        zone = organization_zone(session, org)
    return f"{when.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


@campaign_app.command("send")
def campaign_send(
    campaign_id: int,
    at: Annotated[
        str | None,
        typer.Option("--at", help="When to send: RFC 3339, or YYYY-MM-DDTHH:MM in the organization's time zone."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Send here and now, until done, instead of via the worker.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Schedule a campaign (the worker sends it), or with --wait send it from this process."""
    from fanhub.campaigns.sending import run_campaign
    from fanhub.campaigns.service import schedule_campaign
    from fanhub.db.engine import get_database
    from fanhub.timeutil import iso_utc

    org = _org_of(campaign_id, as_json)
    when = _parse_at(at, org, as_json) if at else None
    with write_session(as_json) as session:
        campaign = schedule_campaign(session, org, campaign_id, when)
        scheduled_at = campaign.scheduled_at
    result: dict[str, Any] = {"id": campaign_id, "status": "scheduled", "scheduled_at": iso_utc(scheduled_at)}
    if not wait:
        local = _local_time(scheduled_at, org, as_json)
        emit(as_json, result, f"Campaign {campaign_id} scheduled for {local}; the worker sends it.")
        return
    if when is not None:
        from fanhub.db.base import utcnow

        delay = (when - utcnow()).total_seconds()
        if delay > 0:
            import time

            time.sleep(delay)
    if as_json:
        counters = run_campaign(get_database(), campaign_id)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), _RateColumn(), TimeRemainingColumn())
        with Progress(*columns) as progress:
            task = progress.add_task("send", total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            counters = run_campaign(get_database(), campaign_id, progress=update)
    from fanhub.campaigns.service import get_campaign_any

    with read_session(as_json) as session:
        status = get_campaign_any(session, campaign_id).status
    result |= {"status": status, **counters}
    emit(
        as_json,
        result,
        f"Campaign {campaign_id} {status}: {counters['delivered']} delivered, {counters['undelivered']} undelivered, "
        f"{counters['skipped']} skipped of {counters['recipients']}",
    )


class _RateColumn(ProgressColumn):
    """Recipients per second, as Rich measures it."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed else "", style="progress.data.speed")


def _describe(view: CampaignView) -> str:
    return f"Campaign {view.id} ({view.name}) is {view.status}."


def _lifecycle(campaign_id: int, as_json: bool, change: Callable[[Session, int], Campaign], said: str) -> None:
    """Run one state change in a transaction and print the campaign as it is now."""
    from fanhub.campaigns.service import campaign_view

    org = _org_of(campaign_id, as_json)
    with write_session(as_json) as session:
        change(session, org)
        view = campaign_view(session, org, campaign_id)
    emit(as_json, view.model_dump(), f"{said} {_describe(view)}")


@campaign_app.command("edit")
def campaign_edit(
    campaign_id: int,
    name: Annotated[str | None, typer.Option("--name", help="Internal name.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Email subject (template).")] = None,
    body_file: Annotated[Path | None, typer.Option("--body-file", help="Template file (Jinja2 merge fields).")] = None,
    audience: Annotated[str | None, typer.Option("--audience", help='Segment JSON, e.g. {"tags": ["VIP"]}.')] = None,
    event: Annotated[int | None, typer.Option("--event", help="fanhub event id for event merge fields.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a draft (the options given; the rest stays). Only drafts change."""
    from fanhub.campaigns.schemas import CampaignChanges
    from fanhub.campaigns.service import edit_campaign

    given: dict[str, Any] = {"name": name, "subject": subject, "event_id": event}
    changes = {key: value for key, value in given.items() if value is not None}
    if body_file is not None:
        try:
            changes["body"] = body_file.read_text(encoding="utf-8")
        except OSError as exc:
            fail(as_json, f"cannot read --body-file: {exc}")
    if audience is not None:
        try:
            changes["audience"] = json.loads(audience)
        except ValueError as exc:
            fail(as_json, f"--audience is not JSON: {exc}")
    if not changes:
        fail(as_json, "nothing to change: give --name, --subject, --body-file, --audience or --event")
    edit = CampaignChanges.model_validate(changes)
    _lifecycle(campaign_id, as_json, lambda session, org: edit_campaign(session, org, campaign_id, edit), "Saved.")


@campaign_app.command("duplicate")
def campaign_duplicate(campaign_id: int, as_json: JsonFlag = False) -> None:
    """Copy a campaign (any state) into a new draft."""
    from fanhub.campaigns.service import campaign_view, duplicate_campaign

    org = _org_of(campaign_id, as_json)
    with write_session(as_json) as session:
        copy = duplicate_campaign(session, org, campaign_id, created_by="cli")
        view = campaign_view(session, org, copy.id)
    emit(as_json, view.model_dump(), f"Copied campaign {campaign_id} into draft {view.id} ({view.name}).")


@campaign_app.command("delete")
def campaign_delete(campaign_id: int, as_json: JsonFlag = False) -> None:
    """Delete a draft."""
    from fanhub.campaigns.service import delete_campaign

    org = _org_of(campaign_id, as_json)
    with write_session(as_json) as session:
        delete_campaign(session, org, campaign_id)
    emit(as_json, {"id": campaign_id, "deleted": True}, f"Deleted draft {campaign_id}.")


@campaign_app.command("cancel")
def campaign_cancel(campaign_id: int, as_json: JsonFlag = False) -> None:
    """Cancel a send: a scheduled campaign goes back to draft, a sending or paused one stops for good."""
    from fanhub.campaigns.lifecycle import cancel_campaign

    _lifecycle(campaign_id, as_json, lambda session, org: cancel_campaign(session, org, campaign_id), "Cancelled.")


@campaign_app.command("pause")
def campaign_pause(campaign_id: int, as_json: JsonFlag = False) -> None:
    """Pause a sending campaign (no new messages until resumed)."""
    from fanhub.campaigns.lifecycle import pause_campaign

    _lifecycle(campaign_id, as_json, lambda session, org: pause_campaign(session, org, campaign_id), "Paused.")


@campaign_app.command("resume")
def campaign_resume(campaign_id: int, as_json: JsonFlag = False) -> None:
    """Resume a paused campaign; recipients already sent to are not sent to again."""
    from fanhub.campaigns.lifecycle import resume_campaign

    _lifecycle(campaign_id, as_json, lambda session, org: resume_campaign(session, org, campaign_id), "Resumed.")


@campaign_app.command("recipients")
def campaign_recipients(
    campaign_id: int,
    filter_name: Annotated[
        str,
        typer.Option("--filter", help="all, opened, clicked, unsubscribed, undelivered or not_opened."),
    ] = "all",
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write every matching recipient (all pages) to this CSV file.")
    ] = None,
    after: Annotated[int | None, typer.Option("--after", help="Page after this delivery id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Recipients per page.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Who received a campaign and what each did (a page of them, or all of them as CSV)."""
    from fanhub.campaigns.report_recipients import iter_recipients, parse_filter, recipients_page
    from fanhub.db.engine import get_database
    from fanhub.errors import InvalidInput

    org = _org_of(campaign_id, as_json)
    try:
        chosen = parse_filter(filter_name)
    except InvalidInput as exc:
        fail(as_json, f"--filter {exc.errors[0]['message']}")
    if csv_path is not None:
        try:
            written = _write_recipients_csv(csv_path, iter_recipients(get_database(), org, campaign_id, chosen))
        except OSError as exc:
            fail(as_json, f"--csv: cannot write {csv_path}: {exc.strerror or exc}")
        result = {"campaign_id": campaign_id, "filter": chosen, "csv": str(csv_path), "recipients": written}
        emit(as_json, result, f"Wrote {written} recipients ({chosen}) of campaign {campaign_id} to {csv_path}")
        return
    with read_session(as_json) as session:
        page = recipients_page(session, org, campaign_id, chosen, after=after, size=limit)
    result = {
        "campaign_id": campaign_id,
        "filter": chosen,
        "recipients": [row.model_dump() for row in page.rows],
        "next_after": page.last_id if page.has_next else None,
    }
    lines = [
        f"{r.name}\t{r.address}\t{r.status_label}\t{'opened' if r.opened_at else ''}"
        f"{'machine open' if r.machine_open else ''}\t{'clicked' if r.clicked_at else ''}"
        f"\t{'unsubscribed' if r.unsubscribed_at else ''}\t{r.failure or ''}\t{r.revenue_text}"
        for r in page.rows
    ]
    more = f"\nmore: --after {page.last_id}" if page.has_next else ""
    emit(as_json, result, ("\n".join(lines) or "none") + more)


def _write_recipients_csv(path: Path, rows: Iterable[RecipientRow]) -> int:
    """Write the recipients to `path` as CSV; how many were written."""
    from fanhub.campaigns.report_recipients import recipients_csv

    written = 0

    def counted() -> Iterator[RecipientRow]:
        nonlocal written
        for row in rows:
            written += 1
            yield row

    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(recipients_csv(counted()))
    return written


@app.command("campaigns")
def campaigns_list(
    org: Annotated[int, typer.Option("--org", help="Organization id.")], as_json: JsonFlag = False
) -> None:
    """List an organization's campaigns with their status and counts."""
    from fanhub.campaigns.service import list_campaigns

    with read_session(as_json) as session:
        rows = list_campaigns(session, org)
    emit(
        as_json,
        {"campaigns": [r.model_dump() for r in rows]},
        "\n".join(f"{r.id}\t{r.type}\t{r.status}\t{r.recipients} recipients\t{r.name}" for r in rows) or "none",
    )
