"""CLI: `fanhub connect eventbrite|tickettailor|ticketor`, `fanhub sync`, `fanhub connections`,
`fanhub sync-interval` (registered on `fanhub.cli.app` when imported)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from fanhub.clikit import JsonFlag, console, emit, ensure_migrated, fail, read_session
from fanhub.db.engine import get_database
from fanhub.errors import FanhubError

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app

connect_app = typer.Typer(help="Connect a ticketing account (credentials are checked first).", no_args_is_help=True)
app.add_typer(connect_app, name="connect")

OrgOption = Annotated[int, typer.Option("--org", help="fanhub organization id.")]
BaseUrlOption = Annotated[str | None, typer.Option("--base-url", help="API base URL (default: the real platform).")]
PublicUrlOption = Annotated[
    str | None, typer.Option("--public-url", help="fanhub's public URL for webhooks (default FANHUB_PUBLIC_URL).")
]


def _connected(as_json: bool, result: dict[str, Any], platform: str) -> None:
    emit(
        as_json,
        result,
        f"Connected {platform}: connection {result['id']}\nWebhook URL (keep it secret): {result['webhook_url']}",
    )


@connect_app.command("eventbrite")
def connect_eventbrite(
    org: OrgOption,
    token: Annotated[str, typer.Option("--token", help="Eventbrite private token (OAuth token).")],
    organization_id: Annotated[
        str | None, typer.Option("--organization-id", help="Eventbrite organization id (asked when several).")
    ] = None,
    base_url: BaseUrlOption = None,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="fanhub's public URL; when given, the webhook is registered on Eventbrite."),
    ] = None,
    webhook_id: Annotated[
        list[str] | None,
        typer.Option("--webhook-id", help="Id of a webhook you created in Eventbrite's dashboard (repeatable)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Connect an Eventbrite organization (token checked with GET /users/me/)."""
    from fanhub.connectors.service import ChooseOrganization, add_webhook_id, connect_eventbrite

    ensure_migrated()
    database = get_database()
    try:
        try:
            result = connect_eventbrite(
                database,
                org,
                token,
                eventbrite_organization_id=organization_id,
                base_url=base_url,
                public_url=public_url,
            )
        except ChooseOrganization as choice:
            if as_json or not sys.stdin.isatty():
                listing = ", ".join(f"{o['id']} ({o['name']})" for o in choice.organizations)
                fail(as_json, f"{choice} — one of: {listing}")
            for index, item in enumerate(choice.organizations, 1):
                console.print(f"  {index}. {item['name']} ({item['id']})")
            picked = typer.prompt("Organization number", type=int)
            if not 1 <= picked <= len(choice.organizations):
                fail(as_json, "no such organization")
            result = connect_eventbrite(
                database,
                org,
                token,
                eventbrite_organization_id=choice.organizations[picked - 1]["id"],
                base_url=base_url,
                public_url=public_url,
            )
        for hook in webhook_id or []:
            # Deliveries are accepted only for webhook ids that belong to this connection.
            add_webhook_id(database, int(result["id"]), hook)
    except FanhubError as exc:
        fail(as_json, str(exc))
    _connected(as_json, result, "Eventbrite")


@connect_app.command("tickettailor")
def connect_tickettailor(
    org: OrgOption,
    api_key: Annotated[str, typer.Option("--api-key", help="Ticket Tailor API key (sk_...).")],
    webhook_secret: Annotated[
        str | None, typer.Option("--webhook-secret", help="The webhook's signing secret from Ticket Tailor.")
    ] = None,
    base_url: BaseUrlOption = None,
    public_url: PublicUrlOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Connect a Ticket Tailor box office (key checked with GET /v1/ping)."""
    from fanhub.connectors.service import connect_tickettailor

    ensure_migrated()
    try:
        result = connect_tickettailor(
            get_database(), org, api_key, webhook_secret=webhook_secret, base_url=base_url, public_url=public_url
        )
    except FanhubError as exc:
        fail(as_json, str(exc))
    _connected(as_json, result, "Ticket Tailor")


@connect_app.command("ticketor")
def connect_ticketor(
    org: OrgOption,
    site: Annotated[str, typer.Option("--site", help="Your Ticketor site host, e.g. www.myvenue.com.")],
    username: Annotated[str, typer.Option("--username", help="Email of a user with the API Access permission.")],
    password: Annotated[str, typer.Option("--password", help="That user's password.")],
    client_id: Annotated[str, typer.Option("--client-id", help="Ticketor Client ID / Company ID.")],
    currency: Annotated[str, typer.Option("--currency", help="Currency when a payload names none.")] = "USD",
    time_zone: Annotated[str | None, typer.Option("--time-zone", help="IANA zone of your events.")] = None,
    base_url: BaseUrlOption = None,
    public_url: PublicUrlOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Connect a Ticketor site (webhooks only; credentials checked with Basic auth)."""
    from fanhub.connectors.service import connect_ticketor

    ensure_migrated()
    try:
        result = connect_ticketor(
            get_database(),
            org,
            site=site,
            username=username,
            password=password,
            client_id=client_id,
            base_url=base_url,
            public_url=public_url,
            currency=currency,
            time_zone=time_zone,
        )
    except FanhubError as exc:
        fail(as_json, str(exc))
    _connected(as_json, result, "Ticketor")


@app.command("sync")
def sync(
    connection_id: int,
    full: Annotated[bool, typer.Option("--full", help="Re-read everything, not only what changed.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Sync a connection now (resumes from its checkpoints)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from fanhub.connectors.base import ConnectorError
    from fanhub.connectors.service import ClientOptions, run_sync
    from fanhub.connectors.sync import SyncResult

    ensure_migrated()
    waits = {"rate_limit": 0.0, "budget": 0.0, "retry": 0.0}
    progress = (
        None
        if as_json
        else Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=False
        )
    )
    task = progress.add_task("syncing", total=None) if progress is not None else None

    def describe(result: SyncResult) -> str:
        return (
            f"events {result.events} · orders {result.orders} · contacts {result.contacts}"
            f" · calls {result.calls} · 429s {result.rate_limited}"
            f" · rate-limit waits {waits['rate_limit'] + waits['budget']:.0f}s"
        )

    def on_progress(result: SyncResult) -> None:
        if progress is not None and task is not None:
            progress.update(task, description=describe(result))

    def on_wait(reason: str, seconds: float) -> None:
        waits[reason] = waits.get(reason, 0.0) + seconds
        if progress is not None and task is not None:
            progress.update(task, description=f"waiting {seconds:.0f}s ({reason.replace('_', ' ')})")

    try:
        if progress is not None:
            progress.start()
        result = run_sync(
            get_database(), connection_id, full=full, progress=on_progress, options=ClientOptions(on_wait=on_wait)
        )
    except (FanhubError, ConnectorError) as exc:
        if progress is not None:
            progress.stop()
        fail(as_json, str(exc))
    if progress is not None:
        progress.stop()
    summary = result.summary()
    emit(
        as_json,
        summary,
        f"Synced connection {connection_id}: {summary['events']} events, {summary['orders']} orders, "
        f"{summary['contacts']} contacts queued in {summary['seconds']}s ({summary['calls']} API calls)",
    )


@app.command("connections")
def connections(org: OrgOption, as_json: JsonFlag = False) -> None:
    """List an organization's connections: status, last sync, record counts and last error."""
    from fanhub.connectors.service import list_connections

    with read_session(as_json) as session:
        rows = list_connections(session, org)
    lines = [
        f"{c['id']}\t{c['platform']}\t{c['status']}\tlast sync {c['last_sync_at'] or 'never'}\t"
        f"events {c['counts']['events']} orders {c['counts']['orders']} contacts {c['counts']['contacts']}"
        + (f"\terror: {c['last_error']}" if c["last_error"] else "")
        for c in rows
    ]
    emit(as_json, {"connections": rows}, "\n".join(lines) or "no connections")


@app.command("sync-interval")
def sync_interval(
    connection_id: int,
    minutes: Annotated[int, typer.Argument(help="Minutes between scheduled syncs (0 = the default).")],
    as_json: JsonFlag = False,
) -> None:
    """Set how often the worker syncs a connection."""
    from fanhub.connectors.service import set_interval

    ensure_migrated()
    try:
        set_interval(get_database(), connection_id, minutes or None)
    except FanhubError as exc:
        fail(as_json, str(exc))
    emit(as_json, {"id": connection_id, "sync_interval_minutes": minutes or None}, "Interval updated")


@app.command("reconnect")
def reconnect(
    connection_id: int,
    token: Annotated[str | None, typer.Option("--token", help="New Eventbrite token.")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="New Ticket Tailor API key.")] = None,
    webhook_secret: Annotated[str | None, typer.Option("--webhook-secret", help="New Ticket Tailor secret.")] = None,
    username: Annotated[str | None, typer.Option("--username", help="New Ticketor username.")] = None,
    password: Annotated[str | None, typer.Option("--password", help="New Ticketor password.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace a connection's credentials (checked first) and reactivate it, keeping its data and checkpoints."""
    from fanhub.connectors.service import reconnect as reconnect_connection

    ensure_migrated()
    changes = {
        "token": token,
        "api_key": api_key,
        "webhook_secret": webhook_secret,
        "username": username,
        "password": password,
    }
    try:
        view = reconnect_connection(get_database(), connection_id, changes)
    except FanhubError as exc:
        fail(as_json, str(exc))
    emit(as_json, view, f"Connection {connection_id} is {view['status']} again")
