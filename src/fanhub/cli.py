"""The `fanhub` command line: serve, worker, migrate, and one command group per domain.

Every command takes `--json` and then prints exactly one JSON object on stdout (errors included,
as `{"error": ...}` with a non-zero exit). Without it, output is for people, with Rich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from fanhub.clikit import JsonFlag, console, emit, ensure_migrated, read_session, write_session
from fanhub.config import get_settings
from fanhub.db.engine import get_database

app = typer.Typer(
    help="fanhub: one consented audience from every ticketing source.", no_args_is_help=True, add_completion=False
)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
key_app = typer.Typer(help="Partner API keys and MCP tokens.", no_args_is_help=True)
tag_app = typer.Typer(help="Contact tags.", no_args_is_help=True)
list_app = typer.Typer(help="Contact lists.", no_args_is_help=True)
batch_app = typer.Typer(help="Ingest batches.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(tag_app, name="tag")
app.add_typer(list_app, name="list")
app.add_typer(batch_app, name="batch")


@app.callback()
def _start() -> None:
    """fanhub: one consented audience from every ticketing source."""
    from fanhub.wiring import connect_domains

    connect_domains()


# --- processes ----------------------------------------------------------------------------------


@app.command()
def migrate(as_json: JsonFlag = False) -> None:
    """Apply database migrations."""
    ensure_migrated()
    emit(as_json, {"migrated": True, "database_url": _redacted_url()}, "Database is up to date.")


def _redacted_url() -> str:
    from fanhub.db.engine import redacted_url

    return redacted_url(get_settings().database_url)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (PostgreSQL); each runs a worker thread.")] = 1,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run the in-process worker.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start the HTTP API (and, by default, a worker) on the configured database."""
    import os

    import uvicorn

    from fanhub.organizations.service import count_organizations

    ensure_migrated()
    with get_database().read() as session:
        has_org = count_organizations(session) > 0
    base = f"http://{host}:{port}"
    info: dict[str, Any] = {
        "api": base,
        "docs": f"{base}/docs",
        "openapi": f"{base}/openapi.json",
        "database_url": _redacted_url(),
        "worker": not no_worker,
    }
    if not has_org:
        info["first_steps"] = [
            "uv run fanhub org create 'My Venue'",
            "uv run fanhub key create --org 1 --partner my-ticketing",
        ]
    setup_link = _manager_setup_link(base)
    if setup_link:
        info["setup_link"] = setup_link
    if as_json:
        emit(True, info)
    else:
        console.print(f"[bold]fanhub[/bold] serving on {base} (database {info['database_url']})")
        if setup_link:
            console.print(f"No manager user yet. Create the first admin (one-time link, valid 24 h):\n  {setup_link}")
        console.print(f"API docs: {base}/docs")
        if not has_org:
            console.print("No organization yet. Create one and a partner key:")
            for step in info["first_steps"]:
                console.print(f"  {step}")
    if no_worker:
        os.environ["FANHUB_WORKER_IN_PROCESS"] = "false"
        get_settings.cache_clear()
    if workers > 1 and get_settings().validation_processes is None:
        # uvicorn's API processes read their settings from the environment; they share the cores.
        os.environ["FANHUB_VALIDATION_PROCESSES"] = str(get_settings().validation_process_count(workers))
        get_settings.cache_clear()
    import fanhub.app  # noqa: F401  (loaded before the runtime is tuned: its objects get frozen)
    from fanhub.runtime import tune_runtime
    from fanhub.worker import load_jobs

    load_jobs()
    tune_runtime()
    uvicorn.run(
        "fanhub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning" if as_json else "info",
        # uvicorn has no timeout for a slow request head; this protocol adds one (named by import
        # path so that `--workers` processes load it too).
        http="fanhub.http_server:HeaderDeadlineProtocol",
        timeout_keep_alive=get_settings().http_keep_alive_seconds,
    )


def _manager_setup_link(base: str) -> str | None:
    """A one-time link creating the first manager admin, while the database has no user."""
    import os

    from fanhub.auth.users import create_setup_token

    with get_database().write() as session:
        token = create_setup_token(session)
    if token is None:
        return None
    public = get_settings().public_url.rstrip("/")
    root = public if "FANHUB_PUBLIC_URL" in os.environ else base
    return f"{root}/manager/setup?token={token}"


@app.command()
def worker(as_json: JsonFlag = False) -> None:
    """Run a worker process: applies batches, runs syncs and sends campaigns. Start as many as you like."""
    import signal

    from fanhub.runtime import tune_runtime
    from fanhub.worker import Worker

    ensure_migrated()
    runner = Worker(get_database(), get_settings().worker_poll_seconds)
    tune_runtime()
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    if not as_json:
        print(f"fanhub worker running jobs: {', '.join(runner.jobs)}", flush=True)
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop()
    emit(as_json, {"stopped": True}, "worker stopped")


# --- organizations and keys -----------------------------------------------------------------------


@org_app.command("create")
def org_create(name: str, as_json: JsonFlag = False) -> None:
    """Create an organization."""
    from fanhub.organizations.service import create_organization

    with write_session(as_json) as session:
        org = create_organization(session, name)
        result = {"id": org.id, "name": org.name}
    emit(as_json, result, f"Created organization {result['id']} ({result['name']})")


@org_app.command("list")
def org_list(as_json: JsonFlag = False) -> None:
    """List organizations."""
    from fanhub.organizations.service import list_organizations

    with read_session(as_json) as session:
        orgs = [{"id": o.id, "name": o.name} for o in list_organizations(session)]
    emit(as_json, {"organizations": orgs}, "\n".join(f"{o['id']}\t{o['name']}" for o in orgs) or "none")


@key_app.command("create")
def key_create(
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    partner: Annotated[str, typer.Option("--partner", help="Partner name; records are sourced partner:<name>.")],
    scope: Annotated[str, typer.Option("--scope", help="partners (default), mcp:read or mcp:write.")] = "partners",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key. The token is printed only now; fanhub stores only its hash."""
    from fanhub.auth.service import create_key

    with write_session(as_json) as session:
        key, token = create_key(session, org, partner, scope)
        result = {"id": key.id, "token": token, "organization_id": org, "partner": key.partner, "scope": key.scopes}
    emit(as_json, result, f"Key {result['id']} for {partner} ({scope}). Token (shown once):\n{token}")


@key_app.command("revoke")
def key_revoke(key_id: int, as_json: JsonFlag = False) -> None:
    """Revoke a key; requests with it get 403 from now on."""
    from fanhub.auth.service import revoke_key

    with write_session(as_json) as session:
        key = revoke_key(session, key_id)
        result = {"id": key.id, "revoked": True}
    emit(as_json, result, f"Revoked key {key_id}")


@key_app.command("list")
def key_list(org: Annotated[int, typer.Option("--org")], as_json: JsonFlag = False) -> None:
    """List an organization's keys (never their tokens)."""
    from fanhub.auth.service import list_keys
    from fanhub.timeutil import iso_utc

    with read_session(as_json) as session:
        keys = [
            {
                "id": k.id,
                "partner": k.partner,
                "scope": k.scopes,
                "prefix": k.token_prefix,
                "created_at": iso_utc(k.created_at),
                "last_used_at": iso_utc(k.last_used_at),
                "revoked_at": iso_utc(k.revoked_at),
            }
            for k in list_keys(session, org)
        ]
    emit(
        as_json,
        {"keys": keys},
        "\n".join(
            f"{k['id']}\t{k['partner']}\t{k['scope']}\t{k['prefix']}…{'  revoked' if k['revoked_at'] else ''}"
            for k in keys
        )
        or "none",
    )


def _named_create(kind: str, creator: Callable[[Session, int, str], Any]) -> Callable[..., None]:
    def command(
        name: str, org: Annotated[int, typer.Option("--org", help="Organization id.")], as_json: JsonFlag = False
    ) -> None:
        with write_session(as_json) as session:
            item = creator(session, org, name)
            result = {"id": item.id, "name": item.name}
        emit(as_json, result, f"Created {kind} {result['id']} ({result['name']})")

    command.__doc__ = f"Create a {kind} (the Partners API accepts only existing {kind}s)."
    return command


def _register_vocabulary_commands() -> None:
    from fanhub.audience.service import create_tag

    tag_app.command("create")(_named_create("tag", create_tag))


@list_app.command("create")
def list_create(
    name: str,
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    public: Annotated[bool, typer.Option("--public", help="Offer it on every recipient's preference center.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a list (the Partners API accepts only existing lists)."""
    from fanhub.audience.service import create_list

    with write_session(as_json) as session:
        item = create_list(session, org, name, public=public)
        result = {"id": item.id, "name": item.name, "public": item.public}
    emit(as_json, result, f"Created list {result['id']} ({result['name']}{', public' if public else ''})")


@list_app.command("update")
def list_update(
    list_id: int,
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    public: Annotated[
        bool, typer.Option("--public/--private", help="Public lists are offered on the preference center.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Make a list public or private (its members stay)."""
    from fanhub.audience.vocabulary import set_public

    with write_session(as_json) as session:
        item = set_public(session, org, list_id, public)
        result = {"id": item.id, "name": item.name, "public": item.public}
    emit(as_json, result, f"List {result['id']} ({result['name']}) is now {'public' if public else 'private'}")


_register_vocabulary_commands()


@batch_app.command("show")
def batch_show(batch_id: str, org: Annotated[int, typer.Option("--org")], as_json: JsonFlag = False) -> None:
    """Show an ingest batch's status and errors."""
    from fanhub.ingest.service import get_batch
    from fanhub.timeutil import iso_utc

    with read_session(as_json) as session:
        batch = get_batch(session, org, batch_id)
        result = {
            "batch_id": batch.public_id,
            "kind": batch.kind,
            "status": batch.status,
            "item_count": batch.item_count,
            "stats": batch.stats,
            "errors": batch.errors,
            "received_at": iso_utc(batch.received_at),
            "applied_at": iso_utc(batch.applied_at),
        }
    emit(as_json, result)


@batch_app.command("replay")
def batch_replay(org: Annotated[int, typer.Option("--org")], as_json: JsonFlag = False) -> None:
    """Queue an organization's failed batches again (after a fix)."""
    from fanhub.ingest.service import requeue_failed

    with write_session(as_json) as session:
        count = requeue_failed(session, org)
    emit(as_json, {"requeued": count}, f"Requeued {count} batch(es)")


def _add_domain_commands() -> None:
    """Each domain's command bundle, named here so the whole CLI is visible from this file."""
    from fanhub.campaigns import cli as campaigns_cli
    from fanhub.connectors import cli as connectors_cli
    from fanhub.deliverability import cli as deliverability_cli
    from fanhub.flows import cli as flows_cli
    from fanhub.forms import cli as forms_cli
    from fanhub.imports import cli as imports_cli
    from fanhub.manager import cli as manager_cli
    from fanhub.mcp import cli as mcp_cli
    from fanhub.organizations import cli as organizations_cli
    from fanhub.privacy import cli as privacy_cli

    bundles = (
        connectors_cli.app,
        campaigns_cli.app,
        deliverability_cli.app,
        forms_cli.app,
        flows_cli.app,
        imports_cli.app,
        manager_cli.app,
        mcp_cli.app,
        privacy_cli.app,
    )
    for bundle in bundles:
        app.add_typer(bundle)
    org_app.add_typer(organizations_cli.app)  # fanhub org sending-domain ...


_add_domain_commands()


def main() -> None:
    app()
