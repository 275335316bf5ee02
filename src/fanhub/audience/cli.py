"""`fanhub contacts import`: import a CSV file of contacts through the same path as the web upload.

The file is stored as an import (see `audience.imports`), queued with the mapping and mode, and by
default this command then works it off itself (enqueue a chunk, apply batches) showing a progress
bar; `--no-wait` leaves the work to a running worker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fanhub.cli import JsonFlag, app, emit, fail, read_session, write_session

contacts_app = typer.Typer(help="Contacts.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row.")],
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="subscribe_everyone, subscribe_if_not_opted_out, unsubscribe_everyone, "
            "unsubscribe_if_not_subscribed or dont_change.",
        ),
    ],
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=FIELD (repeatable; FIELD empty to ignore a column). Guessed from headers."),
    ] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="Existing tag name to add to everyone.")] = None,
    lists: Annotated[list[int] | None, typer.Option("--list", help="List id to add everyone to.")] = None,
    consent_confirmed: Annotated[
        bool,
        typer.Option(
            "--consent-confirmed", help="Required by subscribe_everyone: every contact gave explicit consent."
        ),
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Queue the import and leave it to the worker.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import contacts from a CSV file with one of the five subscription modes."""
    from sqlalchemy import select

    from fanhub.audience import imports
    from fanhub.audience.models import Tag

    if not file.is_file():
        fail(as_json, f"no such file: {file}")
    data = file.read_bytes()
    started = time.monotonic()
    with write_session(as_json) as session:
        item = imports.create_upload(session, org, file.name, data, "cli")
        chosen = dict(item.mapping)
        for pair in mapping or []:
            column, sep, field = pair.partition("=")
            if not sep:
                fail(as_json, f"--map needs COLUMN=FIELD, got {pair!r}")
            if column not in item.header:
                fail(as_json, f"--map: the file has no column {column!r} (columns: {', '.join(item.header)})")
            chosen = {c: f for c, f in chosen.items() if f != field.strip() or not field.strip()}
            chosen[column] = field.strip()
        tag_ids: list[int] = []
        for name in tags or []:
            tag_id = session.scalar(select(Tag.id).where(Tag.organization_id == org, Tag.name == name))
            if tag_id is None:
                fail(as_json, f"tag {name!r} does not exist; create it with `fanhub tag create`")
            tag_ids.append(int(tag_id))
        imports.configure_import(
            session,
            org,
            item.public_id,
            mode=mode,
            mapping={c: f for c, f in chosen.items() if f},
            tag_ids=tag_ids,
            list_ids=list(lists or []),
            consent_confirmed=consent_confirmed,
        )
        public_id, total = item.public_id, item.total_rows
    if not no_wait:
        _work_off(public_id, org, total, as_json)
    with read_session(as_json) as session:
        result = imports.progress(session, imports.get_import(session, org, public_id))
    elapsed = time.monotonic() - started
    result["seconds"] = round(elapsed, 3)
    result["rows_per_second"] = round(total / elapsed, 1) if elapsed > 0 and not no_wait else None
    human = (
        f"Import {public_id}: {result['status']}; {result['created']} created, {result['merged']} merged, "
        f"{result['skipped']} skipped, {result['rejected']} rejected ({result['seconds']} s)"
    )
    emit(as_json, result, human)
    if result["status"] == imports.FAILED_IMPORT:
        raise typer.Exit(1)


def _work_off(public_id: str, org: int, total: int, as_json: bool) -> None:
    from fanhub.audience import imports
    from fanhub.db.engine import get_database
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
