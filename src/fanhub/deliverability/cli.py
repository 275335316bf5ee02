"""`fanhub bounces import`, `fanhub suppressions list|add|remove|import|export` and `fanhub
engagement recompute|sunset`."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fanhub.clikit import JsonFlag, emit, ensure_migrated, fail, read_session, write_session

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app
bounces_app = typer.Typer(help="Bounce and complaint messages.", no_args_is_help=True)
suppressions_app = typer.Typer(help="The suppression list: addresses nothing is sent to.", no_args_is_help=True)
app.add_typer(bounces_app, name="bounces")
app.add_typer(suppressions_app, name="suppressions")
engagement_app = typer.Typer(help="Engagement ratings (1-5 per subscription) and sunset.", no_args_is_help=True)
app.add_typer(engagement_app, name="engagement")

OrgOption = Annotated[int, typer.Option("--org", help="Organization id.")]


@bounces_app.command("import")
def bounces_import(
    path: Annotated[Path, typer.Argument(help="A .eml file, a folder of them, a Maildir or an mbox file.")],
    as_json: JsonFlag = False,
) -> None:
    """Read bounce and complaint messages; each is matched to its delivery and applied once."""
    from fanhub.db.engine import get_database
    from fanhub.deliverability.service import import_path

    if not path.exists():
        fail(as_json, f"{path}: no such file or folder")
    ensure_migrated()
    if as_json:
        tally = import_path(get_database(), path)
    else:
        columns = (TextColumn("reading"), BarColumn(), TextColumn("{task.completed} messages"), TimeElapsedColumn())
        with Progress(*columns) as progress:
            task = progress.add_task("read", total=None)
            tally = import_path(get_database(), path, progress=lambda: progress.advance(task))
    counts = tally.as_dict()
    emit(
        as_json,
        counts,
        f"{counts['read']} messages: {counts['hard']} hard, {counts['soft']} soft, {counts['complaints']} complaints,"
        f" {counts['ignored']} ignored, {counts['unmatched']} unmatched, {counts['duplicates']} already applied",
    )


def _require_org(session: object, org: int) -> None:
    from fanhub.organizations.service import get_organization

    get_organization(session, org)  # type: ignore[arg-type]


@suppressions_app.command("list")
def suppressions_list(
    org: OrgOption,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number (100 per page).")] = 1,
    reason: Annotated[str | None, typer.Option("--reason", help="Only this reason.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Suppressed addresses, newest first."""
    from fanhub.audience import suppression

    with read_session(as_json) as session:
        _require_org(session, org)
        entries, has_more = suppression.page(session, org, page=page, reason=reason)
        rows = [
            {"address": e.address, "reason": e.reason, "source": e.source, "created_at": e.created_at.isoformat()}
            for e in entries
        ]
    human = "\n".join(f"{r['address']}  {r['reason']}  {r['source']}  {r['created_at']}" for r in rows)
    emit(as_json, {"suppressions": rows, "page": page, "has_more": has_more}, human or "No suppressed addresses.")


@suppressions_app.command("add")
def suppressions_add(
    address: str,
    org: OrgOption,
    reason: Annotated[str, typer.Option("--reason", help="manual (default), hard_bounce, complaint, ...")] = "manual",
    as_json: JsonFlag = False,
) -> None:
    """Suppress an address: nothing is sent to it until it is removed."""
    from fanhub.addresses import try_normalize_email
    from fanhub.audience import suppression

    normalized = try_normalize_email(address)
    if normalized is None:
        fail(as_json, f"address: {address!r} is not an email address")
    if reason not in suppression.REASONS:
        fail(as_json, f"reason: one of {', '.join(suppression.REASONS)}")
    with write_session(as_json) as session:
        _require_org(session, org)
        added = suppression.suppress(session, org, normalized, reason, "cli")
    emit(as_json, {"address": normalized, "added": added}, f"{normalized} {'suppressed' if added else 'was already'}")


@suppressions_app.command("remove")
def suppressions_remove(address: str, org: OrgOption, as_json: JsonFlag = False) -> None:
    """Lift a suppression (audited). Consent is unchanged: an unsubscribed person stays unsubscribed."""
    from fanhub.audience import suppression

    with write_session(as_json) as session:
        _require_org(session, org)
        removed = suppression.remove(session, org, address, "cli")
    if not removed:
        fail(as_json, f"address: {address} is not on organization {org}'s suppression list")
    emit(as_json, {"address": address.strip().lower(), "removed": True}, f"{address} removed from the list")


@suppressions_app.command("import")
def suppressions_import(
    file: Annotated[Path, typer.Argument(help="CSV with a header row (email, address or Email Address column).")],
    org: OrgOption,
    as_json: JsonFlag = False,
) -> None:
    """Import another provider's suppression export (reason `imported`)."""
    from fanhub.audience import suppression

    if not file.is_file():
        fail(as_json, f"{file}: no such file")
    with file.open(newline="", encoding="utf-8-sig") as handle, write_session(as_json) as session:
        _require_org(session, org)
        counts = suppression.import_csv(session, org, csv.DictReader(handle), f"import:{file.name}")
    emit(as_json, counts, f"{counts['added']} added, {counts['already']} already listed, {counts['invalid']} invalid")


@suppressions_app.command("export")
def suppressions_export(
    org: OrgOption,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV file (default: standard output).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the suppression list as CSV (address, reason, source, detail, created_at)."""
    from fanhub.db.engine import get_database
    from fanhub.deliverability.queries import iter_export_rows

    if output is None and as_json:
        fail(as_json, "--output: with --json the CSV needs a file")
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        writer = csv.DictWriter(handle, fieldnames=["address", "reason", "source", "detail", "created_at"])
        writer.writeheader()
        with read_session(as_json) as session:
            _require_org(session, org)
        for row in iter_export_rows(get_database(), org):
            writer.writerow(row)
            count += 1
    finally:
        if output:
            handle.close()
    if output:
        emit(as_json, {"output": str(output), "count": count}, f"{count} addresses written to {output}")


@engagement_app.command("recompute")
def engagement_recompute(org: OrgOption, as_json: JsonFlag = False) -> None:
    """Recompute every contact's email and SMS rating now (the worker keeps them current anyway)."""
    from fanhub.db.engine import get_database
    from fanhub.deliverability.engagement import recompute_organization

    with read_session(as_json) as session:
        _require_org(session, org)
    result = recompute_organization(get_database(), org)
    stars = "  ".join(f"{k}★ {v}" for k, v in result["email_ratings"].items())
    emit(as_json, result, f"{result['contacts']} contacts rated, {result['changed']} changed; email: {stars}")


@engagement_app.command("sunset")
def engagement_sunset(org: OrgOption, as_json: JsonFlag = False) -> None:
    """Run the sunset pass for the organization now (only when its sunset setting is on)."""
    from fanhub.db.engine import get_database
    from fanhub.deliverability.sunset import sunset_organization
    from fanhub.organizations.service import get_organization

    with read_session(as_json) as session:
        enabled = get_organization(session, org).sunset_enabled
    if not enabled:
        fail(as_json, f"sunset: off for organization {org} (fanhub org update {org} --sunset on)")
    added = sunset_organization(get_database(), org)
    emit(as_json, {"organization_id": org, "suppressed": added}, f"{added} unengaged addresses suppressed")


@engagement_app.command("settings")
def engagement_settings(org: OrgOption, as_json: JsonFlag = False) -> None:
    """Show the organization's sunset setting (change it with `fanhub org update ID --sunset on|off`)."""
    from fanhub.organizations.service import get_organization, sunset_settings

    with read_session(as_json) as session:
        organization = get_organization(session, org)
        view = {"organization_id": organization.id, **sunset_settings(organization)}
    human = (
        f"sunset {'on' if view['sunset_enabled'] else 'off'}: after {view['sunset_after_emails']} emails"
        f" over at least {view['sunset_min_days']} days without an open, click or purchase"
    )
    emit(as_json, view, human)
