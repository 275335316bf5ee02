"""CLI: `fanhub connect <platform>` (one command per registered platform, its options from the
platform's declared fields), `fanhub sync`, `fanhub connections`, `fanhub sync-interval`,
`fanhub reconnect` (bundled into the root app by `fanhub.cli`)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from fanhub.clikit import JsonFlag, console, emit, ensure_migrated, fail, read_session
from fanhub.connectors.connector import ChoiceNeeded, Connector, Field
from fanhub.connectors.registry import PLATFORMS
from fanhub.db.engine import get_database
from fanhub.errors import FanhubError

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app

connect_app = typer.Typer(help="Connect a ticketing account (credentials are checked first).", no_args_is_help=True)
app.add_typer(connect_app, name="connect")

OrgOption = Annotated[int, typer.Option("--org", help="fanhub organization id.")]
BaseUrlOption = Annotated[str | None, typer.Option("--base-url", help="API base URL (default: the real platform).")]


def _field_parameter(field: Field) -> inspect.Parameter:
    option = typer.Option(field.option, help=field.help)
    keyword = inspect.Parameter.KEYWORD_ONLY
    if field.repeatable:
        return inspect.Parameter(field.name, keyword, annotation=Annotated[list[str] | None, option], default=None)
    if field.required:
        return inspect.Parameter(field.name, keyword, annotation=Annotated[str, option])
    if field.default is not None:
        return inspect.Parameter(field.name, keyword, annotation=Annotated[str, option], default=field.default)
    return inspect.Parameter(field.name, keyword, annotation=Annotated[str | None, option], default=None)


def _public_url_help(connector: type[Connector]) -> str:
    if connector.registers_webhooks:
        return f"fanhub's public URL; when given, the webhook is registered on {connector.label}."
    return "fanhub's public URL for webhooks (default FANHUB_PUBLIC_URL)."


def _connect_with_choice(
    connector: type[Connector], org: int, values: dict[str, Any], as_json: bool, **urls: Any
) -> Any:
    """Connect; when the platform offers several accounts, ask which (or list them, without a terminal)."""
    from fanhub.connectors.service import connect

    try:
        return connect(get_database(), org, connector.platform, values, **urls)
    except ChoiceNeeded as choice:
        if as_json or not sys.stdin.isatty():
            listing = ", ".join(f"{o['id']} ({o['name']})" for o in choice.choices)
            fail(as_json, f"{choice} — one of: {listing}")
        for index, item in enumerate(choice.choices, 1):
            console.print(f"  {index}. {item['name']} ({item['id']})")
        picked = typer.prompt("Number", type=int)
        if not 1 <= picked <= len(choice.choices):
            fail(as_json, "no such choice")
        values = {**values, choice.field: choice.choices[picked - 1]["id"]}
        return connect(get_database(), org, connector.platform, values, **urls)


def connect_command(connector: type[Connector]) -> Callable[..., None]:
    """`fanhub connect <platform>`: options from the platform's fields, then --base-url, --public-url, --json."""

    def command(**arguments: Any) -> None:
        org, as_json = arguments.pop("org"), arguments.pop("as_json")
        urls = {"base_url": arguments.pop("base_url"), "public_url": arguments.pop("public_url")}
        urls["register_webhook"] = bool(urls["public_url"])
        ensure_migrated()
        try:
            result = _connect_with_choice(connector, org, arguments, as_json, **urls)
        except FanhubError as exc:
            fail(as_json, str(exc))
        human = f"Connected {connector.label}: connection {result['id']}"
        emit(as_json, result, f"{human}\nWebhook URL (keep it secret): {result['webhook_url']}")

    keyword = inspect.Parameter.KEYWORD_ONLY
    public_url = typer.Option("--public-url", help=_public_url_help(connector))
    parameters = [
        inspect.Parameter("org", keyword, annotation=OrgOption),
        *(_field_parameter(field) for field in connector.fields),
        inspect.Parameter("base_url", keyword, annotation=BaseUrlOption, default=None),
        inspect.Parameter("public_url", keyword, annotation=Annotated[str | None, public_url], default=None),
        inspect.Parameter("as_json", keyword, annotation=JsonFlag, default=False),
    ]
    # Typer reads a command's options from its signature and annotations: give it the declared ones.
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    command.__doc__ = connector.summary
    command.__name__ = f"connect_{connector.platform}"
    return command


for _connector in PLATFORMS.values():
    connect_app.command(_connector.platform)(connect_command(_connector))


@app.command("sync")
def sync(
    connection_id: int,
    full: Annotated[bool, typer.Option("--full", help="Re-read everything, not only what changed.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Sync a connection now (resumes from its checkpoints).

    When the worker is already syncing it, this waits for that run, finishes what is left, and
    reports both runs together.
    """
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
        if reason == "running_sync":  # `seconds` so far, waiting for another process's run to end
            if progress is not None and task is not None:
                progress.update(task, description=f"waiting for the sync already running ({seconds:.0f}s)")
            return
        waits[reason] = waits.get(reason, 0.0) + seconds
        if progress is not None and task is not None:
            progress.update(task, description=f"waiting {seconds:.0f}s ({reason.replace('_', ' ')})")

    try:
        if progress is not None:
            progress.start()
        options = ClientOptions(on_wait=on_wait)
        result = run_sync(get_database(), connection_id, full=full, progress=on_progress, options=options, wait=True)
    except (FanhubError, ConnectorError) as exc:
        if progress is not None:
            progress.stop()
        fail(as_json, str(exc))
    if progress is not None:
        progress.stop()
    summary = result.summary()
    joined = "; with the run already under way, which this one waited for" if result.joined else ""
    emit(
        as_json,
        summary,
        f"Synced connection {connection_id}: {summary['events']} events, {summary['orders']} orders, "
        f"{summary['contacts']} contacts queued in {summary['seconds']}s ({summary['calls']} API calls){joined}",
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


def _credential_options() -> dict[str, tuple[Field, list[str]]]:
    """Every platform's credential fields by name, with the labels of the platforms that have them."""
    found: dict[str, tuple[Field, list[str]]] = {}
    for connector in PLATFORMS.values():
        for field in connector.fields:
            if field.credential:
                found.setdefault(field.name, (field, []))[1].append(connector.label)
    return found


def reconnect_command() -> Callable[..., None]:
    """`fanhub reconnect ID` with an option for each credential any platform declares."""

    def command(connection_id: int, **changes: Any) -> None:
        from fanhub.connectors.service import reconnect as reconnect_connection

        as_json = changes.pop("as_json")
        ensure_migrated()
        try:
            view = reconnect_connection(get_database(), connection_id, changes)
        except FanhubError as exc:
            fail(as_json, str(exc))
        emit(as_json, view, f"Connection {connection_id} is {view['status']} again")

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("connection_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int)]
    for name, (field, labels) in _credential_options().items():
        option = typer.Option(field.option, help=f"New {' / '.join(labels)} {field.label}.")
        parameters.append(inspect.Parameter(name, keyword, annotation=Annotated[str | None, option], default=None))
    parameters.append(inspect.Parameter("as_json", keyword, annotation=JsonFlag, default=False))
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    command.__doc__ = (
        "Replace a connection's credentials (checked first) and reactivate it, keeping its data and checkpoints."
    )
    return command


app.command("reconnect")(reconnect_command())
