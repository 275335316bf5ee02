"""`fanhub campaign create|preview|send` and `fanhub campaigns`, registered on the main Typer app."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from fanhub.clikit import JsonFlag, emit, fail, read_session, write_session

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


def _parse_at(value: str, as_json: bool) -> datetime:
    from fanhub.ingest.records import _parse_instant

    try:
        return _parse_instant(value)
    except ValueError as exc:
        fail(as_json, f"--at: {exc}")


@campaign_app.command("send")
def campaign_send(
    campaign_id: int,
    at: Annotated[str | None, typer.Option("--at", help="RFC 3339 time to send at (default now).")] = None,
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

    when = _parse_at(at, as_json) if at else None
    org = _org_of(campaign_id, as_json)
    with write_session(as_json) as session:
        campaign = schedule_campaign(session, org, campaign_id, when)
        scheduled_at = campaign.scheduled_at
    result: dict[str, Any] = {"id": campaign_id, "status": "scheduled", "scheduled_at": iso_utc(scheduled_at)}
    if not wait:
        emit(as_json, result, f"Campaign {campaign_id} scheduled for {result['scheduled_at']}; the worker sends it.")
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

        with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as progress:
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
        {"campaigns": rows},
        "\n".join(f"{r['id']}\t{r['type']}\t{r['status']}\t{r['recipients']} recipients\t{r['name']}" for r in rows)
        or "none",
    )
