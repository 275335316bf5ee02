"""`fanhub contacts import`: import a CSV file of contacts through the same path as the web upload.

The file is stored as an import (see `imports.service`), queued with the mapping and mode, and by
default this command then works it off itself (enqueue a chunk, apply batches) showing a progress
bar; `--no-wait` leaves the work to a running worker.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fanhub.clikit import JsonFlag, emit, fail, read_session, write_session

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app
contacts_app = typer.Typer(help="Contacts.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")


_MODE_HELP = (
    "subscribe_everyone, subscribe_if_not_opted_out, unsubscribe_everyone, unsubscribe_if_not_subscribed or dont_change"
)


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row.")],
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    email_mode: Annotated[
        str | None, typer.Option("--email-mode", "--mode", help=f"What to do to email: {_MODE_HELP}.")
    ] = None,
    sms_mode: Annotated[
        str,
        typer.Option("--sms-mode", help=f"What to do to SMS (default dont_change): {_MODE_HELP}."),
    ] = "dont_change",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=FIELD (repeatable; FIELD empty to ignore a column). Guessed from headers."),
    ] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="Existing tag name to add to everyone.")] = None,
    lists: Annotated[list[int] | None, typer.Option("--list", help="List id to add everyone to.")] = None,
    consent_confirmed: Annotated[
        bool,
        typer.Option(
            "--consent-confirmed", help="Required by --email-mode subscribe_everyone: every contact gave consent."
        ),
    ] = False,
    sms_consent_confirmed: Annotated[
        bool,
        typer.Option(
            "--sms-consent-confirmed",
            help="Required by an SMS mode that subscribes: every person agreed to receive texts at their number.",
        ),
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Queue the import and leave it to the worker.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import contacts from a CSV file, with a subscription mode for email and one for SMS."""
    from fanhub.audience.service import tag_ids_by_name
    from fanhub.imports import service as imports

    if not file.is_file():
        fail(as_json, f"no such file: {file}")
    if email_mode is None:
        fail(as_json, f"--email-mode is required ({_MODE_HELP})")
    data = file.read_bytes()
    started = time.monotonic()
    with write_session(as_json) as session:
        item = imports.create_upload(session, org, file.name, data, "cli")
        chosen = _mapping(item.header, dict(item.mapping), mapping or [], as_json)
        found = tag_ids_by_name(session, org, tags or [])
        for name in tags or []:
            if name not in found:
                fail(as_json, f"tag {name!r} does not exist; create it with `fanhub tag create`")
        imports.configure_import(
            session,
            org,
            item.public_id,
            mode=email_mode,
            sms_mode=sms_mode,
            mapping=chosen,
            tag_ids=list(found.values()),
            list_ids=list(lists or []),
            consent_confirmed=consent_confirmed,
            sms_consent_confirmed=sms_consent_confirmed,
            confirmed_by="cli",
        )
        public_id, total = item.public_id, item.total_rows
    if not no_wait:
        _work_off(public_id, org, total, as_json)
    with read_session(as_json) as session:
        result = imports.progress(session, imports.get_import(session, org, public_id))
        result.update(imports.issue_rows(session, org, public_id, limit=10_000))
    elapsed = time.monotonic() - started
    result["seconds"] = round(elapsed, 3)
    result["rows_per_second"] = round(total / elapsed, 1) if elapsed > 0 and not no_wait else None
    emit(as_json, result, _human(result))
    if result["status"] == imports.FAILED_IMPORT:
        raise typer.Exit(1)


def _mapping(header: list[str], guessed: dict[str, str], pairs: list[str], as_json: bool) -> dict[str, str]:
    chosen = dict(guessed)
    for pair in pairs:
        column, sep, field = pair.partition("=")
        if not sep:
            fail(as_json, f"--map needs COLUMN=FIELD, got {pair!r}")
        if column not in header:
            fail(as_json, f"--map: the file has no column {column!r} (columns: {', '.join(header)})")
        chosen = {c: f for c, f in chosen.items() if f != field.strip() or not field.strip()}
        chosen[column] = field.strip()
    return {c: f for c, f in chosen.items() if f}


def _human(result: dict[str, Any]) -> str:
    lines = [
        f"Import {result['import_id']}: {result['status']}; {result['created']} created, {result['merged']} merged, "
        f"{result['skipped']} skipped, {result['rejected']} rejected, {result['partly_applied']} partly applied "
        f"({result['seconds']} s)"
    ]
    for channel, counts in (result.get("channels") or {}).items():
        lines.append(
            f"  {channel}: {counts['subscribed']} subscribed, {counts['unsubscribed']} unsubscribed, "
            f"{counts['unchanged']} unchanged"
        )
    for issue in result["issues"][:20]:
        lines.append(f"  row {issue['row']} ({issue['outcome']}): {issue['field'] or '-'}: {issue['reason']}")
    if result["issues_total"] > 20:
        lines.append(f"  … {result['issues_total'] - 20} more (--json lists them)")
    return "\n".join(lines)


@contacts_app.command("import-review")
def contacts_import_review(
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    since: Annotated[
        datetime | None, typer.Option("--since", help="Only imports started on or after this date (UTC).")
    ] = None,
    revert: Annotated[
        bool, typer.Option("--revert", help="Put back the SMS subscriptions listed with action 'revert'.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """SMS subscriptions made by imports from before SMS had its own mode, and their repair."""
    from fanhub.imports import review as import_review

    when = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    with write_session(as_json) as session:
        result: dict[str, Any] = {}
        if revert:
            result["reverted"] = import_review.revert(session, org, "cli", when)
        items = import_review.review(session, org, when)
    result["contacts"] = [item.as_json() for item in items]
    result["to_revert"] = sum(item.action == import_review.REVERT for item in items)
    human = "\n".join(
        f"{i.contact_id:>8} {i.email or i.phone or '':<32} import {i.import_id} {i.action:<8} {i.reason}" for i in items
    )
    emit(as_json, result, human or "Nothing to review.")


def _work_off(public_id: str, org: int, total: int, as_json: bool) -> None:
    from fanhub.db.engine import get_database
    from fanhub.imports import service as imports
    from fanhub.ingest.service import drain

    database = get_database()
    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeElapsedColumn(),
        disable=as_json,
        transient=False,
    ) as bar:
        task = bar.add_task("import", total=total)
        while True:
            worked = imports.run_import_step(database)
            applied = drain(database, max_batches=4)
            with database.read() as session:
                state = imports.progress(session, imports.get_import(session, org, public_id))
            bar.update(task, completed=min(total, state["applied_rows"] + state["rejected"] + state["skipped"]))
            if state["status"] in (imports.DONE, imports.FAILED_IMPORT):
                bar.update(task, completed=total)
                return
            if not worked and not applied:
                time.sleep(0.05)
