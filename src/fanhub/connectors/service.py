"""Connections: connect (credentials checked against the platform before anything is saved), run a
sync with its bookkeeping, list connections.

Nothing here branches on the platform: what differs is declared by each platform's connector class,
found through `registry.PLATFORMS`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanhub.audience.models import ContactSource
from fanhub.config import Settings, get_settings
from fanhub.connectors.base import ApiClient, AuthError, ConnectorError, RetryPolicy
from fanhub.connectors.base import ClientOptions as ClientOptions  # re-exported: callers configure syncs here
from fanhub.connectors.connector import Connector
from fanhub.connectors.crypto import decrypt_json, encrypt_json
from fanhub.connectors.models import ACTIVE, BROKEN, Connection
from fanhub.connectors.registry import connector_class
from fanhub.connectors.sync import LEASE_SECONDS, ConnectionInfo, Progress, SyncResult, SyncWriter
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.db.repository import Repository
from fanhub.errors import FanhubError, InvalidInput, NotFound
from fanhub.organizations.service import get_organization
from fanhub.timeutil import iso_utc

# How often a sync waiting for another one looks whether it ended.
WAIT_POLL_SECONDS = 0.25


class ConnectFailed(FanhubError):
    """The platform refused the credentials (or could not be reached); nothing was saved."""


class SyncBusy(FanhubError):
    """Another process is syncing this connection right now."""


def make_client(
    platform: str,
    base_url: str,
    credentials: Mapping[str, Any],
    settings: Settings | None = None,
    options: ClientOptions | None = None,
) -> ApiClient:
    return connector_class(platform).make_client(
        base_url, credentials, settings or get_settings(), options or ClientOptions()
    )


def make_connector(info: ConnectionInfo, client: ApiClient, settings: Settings | None = None) -> Connector:
    return connector_class(info.platform)(info, client, settings or get_settings())


def info_of(connection: Connection, settings: Settings | None = None) -> ConnectionInfo:
    return ConnectionInfo(
        id=connection.id,
        organization_id=connection.organization_id,
        platform=connection.platform,
        base_url=connection.base_url,
        credentials=decrypt_json(connection.credentials, settings),
        settings=dict(connection.settings or {}),
    )


def load_info(database: Database, connection_id: int) -> ConnectionInfo:
    with database.read() as session:
        return info_of(_connection(session, connection_id))


def webhook_url(connection: Connection, public_url: str | None = None) -> str:
    base = (public_url or get_settings().public_url).rstrip("/")
    return f"{base}/v1/webhooks/{connection.platform}/{connection.id}/{connection.webhook_secret}"


def _connection(session: Session, connection_id: int, *, for_update: bool = False) -> Connection:
    # FOR UPDATE (PostgreSQL): two processes claiming one connection queue instead of both winning.
    connection = session.get(Connection, connection_id, with_for_update=for_update, populate_existing=for_update)
    if connection is None:
        raise NotFound(f"connection {connection_id} not found")
    return connection


# --- connect -----------------------------------------------------------------------------------------


def _clean(connector: type[Connector], values: Mapping[str, Any]) -> dict[str, Any]:
    """The declared fields' values: trimmed, empty as None, defaults filled; missing ones refused."""
    cleaned: dict[str, Any] = {}
    for field in connector.fields:
        value = values.get(field.name)
        if isinstance(value, str):
            value = (value.strip() if field.strip else value) or None
        elif field.repeatable:
            value = [str(v) for v in value or [] if str(v).strip()]
        cleaned[field.name] = field.default if value is None else value
    missing = [f for f in connector.fields if f.required and not cleaned[f.name]]
    if missing:
        raise InvalidInput(
            "enter the " + ", ".join(f.label for f in missing),
            [{"index": None, "field": f.name, "message": "required"} for f in missing],
        )
    return cleaned


def _verify(
    connector: type[Connector], base_url: str, credentials: dict[str, Any], settings_: dict[str, Any]
) -> tuple[Connector, dict[str, Any]]:
    info = ConnectionInfo(0, 0, connector.platform, base_url, credentials, settings_)
    # A credential check should answer quickly: few retries, short waits.
    options = ClientOptions(retry=RetryPolicy(attempts=2, cap=2))
    checking = make_connector(info, make_client(connector.platform, base_url, credentials, options=options))
    try:
        return checking, checking.verify()
    except AuthError as exc:
        checking.client.close()
        raise ConnectFailed(
            f"{connector.platform} rejected the credentials ({exc.code or exc.status}); nothing was saved"
        ) from exc
    except ConnectorError as exc:
        checking.client.close()
        raise ConnectFailed(
            f"could not verify the credentials with {connector.platform}: {exc}; nothing was saved"
        ) from exc


def _create(
    database: Database,
    organization_id: int,
    platform: str,
    base_url: str,
    credentials: dict[str, Any],
    settings_: dict[str, Any],
    name: str,
) -> Connection:
    with database.write() as session:
        get_organization(session, organization_id)
        connection = Connection(
            organization_id=organization_id,
            platform=platform,
            name=name,
            status=ACTIVE,
            base_url=base_url.rstrip("/"),
            credentials=encrypt_json(credentials),
            webhook_secret=secrets.token_urlsafe(24),
            settings=settings_,
            next_sync_at=utcnow(),
            counts={},
            failures=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(connection)
        session.flush()
        return connection


def connect(
    database: Database,
    organization_id: int,
    platform: str,
    values: Mapping[str, Any],
    *,
    base_url: str | None = None,
    public_url: str | None = None,
    register_webhook: bool = False,
) -> dict[str, Any]:
    """Check the values (`Connector.fields`) with the platform, then save the connection.

    Returns `{"id", "webhook_url", **what the platform adds}`. With `register_webhook`, a platform
    that can (`registers_webhooks`) gets the webhook created through its API; a failure there is
    reported as `webhook_error` (syncs work without it).
    """
    connector = connector_class(platform)
    cleaned = _clean(connector, values)
    base_url = (base_url or connector.base_url_for(cleaned)).rstrip("/")
    credentials = connector.credentials_of(cleaned)
    checking, found = _verify(connector, base_url, credentials, connector.settings_of(cleaned))
    try:
        try:
            plan = checking.plan(cleaned, found)
        except ConnectorError as exc:
            raise ConnectFailed(f"{exc}; nothing was saved") from exc
        connection = _create(database, organization_id, platform, base_url, credentials, plan.settings, plan.name)
        result: dict[str, Any] = {"id": connection.id, "webhook_url": webhook_url(connection, public_url)}
        result.update(plan.result)
        if register_webhook and connector.registers_webhooks:
            registering = make_connector(info_of(connection), checking.client)
            try:
                hook_id = registering.register_webhook(result["webhook_url"])
            except ConnectorError as exc:
                # The connection works for syncs; say why webhooks are missing instead of failing it.
                result["webhook_error"] = str(exc)
            else:
                add_webhook_id(database, connection.id, hook_id)
                result["webhook_id"] = hook_id
        return result
    finally:
        checking.client.close()


def add_webhook_id(database: Database, connection_id: int, hook_id: str) -> None:
    with database.write() as session:
        connection = _connection(session, connection_id)
        settings_ = dict(connection.settings or {})
        settings_["webhook_ids"] = sorted({*settings_.get("webhook_ids", []), str(hook_id)})
        connection.settings = settings_


# Shorthands with each platform's values as arguments, for callers and tests that know the platform.
# A new platform needs none: `connect(database, org, "<platform>", values)` serves it.


def connect_eventbrite(
    database: Database,
    organization_id: int,
    token: str,
    *,
    eventbrite_organization_id: str | None = None,
    base_url: str | None = None,
    public_url: str | None = None,
) -> dict[str, Any]:
    values = {"token": token, "organization_id": eventbrite_organization_id}
    return connect(
        database,
        organization_id,
        "eventbrite",
        values,
        base_url=base_url,
        public_url=public_url,
        register_webhook=bool(public_url),
    )


def connect_tickettailor(
    database: Database,
    organization_id: int,
    api_key: str,
    *,
    webhook_secret: str | None = None,
    base_url: str | None = None,
    public_url: str | None = None,
) -> dict[str, Any]:
    values = {"api_key": api_key, "webhook_secret": webhook_secret}
    return connect(database, organization_id, "tickettailor", values, base_url=base_url, public_url=public_url)


def connect_ticketor(
    database: Database,
    organization_id: int,
    *,
    site: str,
    username: str,
    password: str,
    client_id: str,
    base_url: str | None = None,
    public_url: str | None = None,
    currency: str = "USD",
    time_zone: str | None = None,
) -> dict[str, Any]:
    values = {
        "site": site,
        "username": username,
        "password": password,
        "client_id": client_id,
        "currency": currency,
        "time_zone": time_zone,
    }
    return connect(database, organization_id, "ticketor", values, base_url=base_url, public_url=public_url)


# --- sync --------------------------------------------------------------------------------------------


def _claim(database: Database, connection_id: int, force: bool) -> ConnectionInfo:
    with database.write() as session:
        connection = _connection(session, connection_id, for_update=True)
        now = utcnow()
        if connection.lease_until is not None and connection.lease_until > now and not force:
            raise SyncBusy(f"connection {connection_id} is being synced by another process")
        if connection.status == BROKEN and not force:
            raise ConnectFailed(f"connection {connection_id} is broken: {connection.last_error}")
        connection.lease_until = now + timedelta(seconds=LEASE_SECONDS)
        return info_of(connection)


def _last_run(connection: Connection) -> SyncResult:
    """What the connection's latest run queued (as `_finish` recorded it)."""
    last = dict((connection.counts or {}).get("last_run") or {})
    result = SyncResult(finished=bool(last.get("finished", True)))
    for key in ("events", "orders", "contacts", "calls"):
        setattr(result, key, int(last.get(key) or 0))
    result.seconds = float(last.get("seconds") or 0.0)
    return result


def _wait_for_release(database: Database, connection_id: int, options: ClientOptions) -> SyncResult:
    """Wait until the run holding the connection ends; returns what that run queued."""
    waited = 0.0
    while True:
        with database.read() as session:
            connection = _connection(session, connection_id)
            if connection.lease_until is None or connection.lease_until <= utcnow():
                return _last_run(connection)
        if options.on_wait is not None:
            options.on_wait("running_sync", waited)
        options.sleep(WAIT_POLL_SECONDS)
        waited += WAIT_POLL_SECONDS


def _finish(
    database: Database, connection_id: int, result: SyncResult, error: BaseException | None, settings: Settings
) -> None:
    with database.write() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            return
        now = utcnow()
        interval = timedelta(minutes=connection.sync_interval_minutes or settings.sync_interval_minutes)
        connection.lease_until = None
        connection.updated_at = now
        counts = dict(connection.counts or {})
        counts["calls"] = int(counts.get("calls", 0)) + result.calls
        # A sync that waited for this one reports what it did.
        finished = result.finished and error is None  # a failed run leaves its work to the next one
        counts["last_run"] = {**result.summary(), "finished": finished, "ended_at": iso_utc(now)}
        connection.counts = counts
        if error is None:
            connection.last_sync_at = now
            connection.last_error = None
            connection.failures = 0
            # A sync stopped by its time budget continues at the worker's next turn.
            connection.next_sync_at = now + interval if result.finished else now
            return
        connection.failures = (connection.failures or 0) + 1
        connection.last_error = f"{type(error).__name__}: {error}"[:2000]
        connection.last_error_at = now
        if isinstance(error, AuthError):
            connection.status = BROKEN
            connection.next_sync_at = None
        else:
            backoff = timedelta(minutes=min(2 ** (connection.failures - 1), 60))
            connection.next_sync_at = now + min(interval, backoff)


def run_sync(
    database: Database,
    connection_id: int,
    *,
    full: bool = False,
    deadline: float | None = None,
    progress: Progress | None = None,
    options: ClientOptions | None = None,
    force: bool = False,
    after_commit: Callable[[SyncWriter], None] | None = None,
    wait: bool = False,
) -> SyncResult:
    """Run one sync of a connection (resuming from its checkpoints). Errors are recorded and re-raised.

    When another process is syncing the connection (the worker's scheduled run), this raises
    `SyncBusy`, or with `wait` waits for that run to end and reports what it queued: what a person
    asking for "sync now" expects to see counted. Only when that run stopped unfinished (its time
    slice), or a full sync is asked for, does this one then sync too, reporting both runs as one.
    (Reading again right after it would count its records twice: they may not be applied yet.)
    """
    started = time.monotonic()
    options = options or ClientOptions()
    joined: SyncResult | None = None
    while True:
        try:
            info = _claim(database, connection_id, force)
            break
        except SyncBusy:
            if not wait:
                raise
            other = _wait_for_release(database, connection_id, options)
            joined = other if joined is None else joined.plus(other)
            if joined.finished and not full:
                joined.joined, joined.seconds = True, time.monotonic() - started
                return joined
    if progress is not None and joined is not None:
        progress = _adding(progress, joined)
    result = _sync_claimed(database, info, full, deadline, progress, options, after_commit)
    if joined is None:
        return result
    combined = result.plus(joined)
    combined.finished, combined.joined = result.finished, True
    combined.seconds = time.monotonic() - started
    return combined


def _adding(progress: Progress, earlier: SyncResult) -> Progress:
    """`progress` shown with what an earlier run (one this sync waited for) queued."""

    def report(current: SyncResult) -> None:
        progress(current.plus(earlier))

    return report


def _sync_claimed(
    database: Database,
    info: ConnectionInfo,
    full: bool,
    deadline: float | None,
    progress: Progress | None,
    options: ClientOptions,
    after_commit: Callable[[SyncWriter], None] | None,
) -> SyncResult:
    settings = get_settings()
    result = SyncResult()
    started = time.monotonic()
    client = make_client(info.platform, info.base_url, info.credentials, settings, options)
    error: BaseException | None = None
    try:
        connector = make_connector(info, client, settings)
        writer = SyncWriter(database, info, result)
        if progress is not None:
            report = progress

            def with_calls(current: SyncResult) -> None:
                current.calls = client.stats.calls
                current.rate_limited = client.stats.rate_limited
                report(current)

            writer.progress = with_calls
        writer.after_commit = after_commit
        result.finished = connector.sync(writer, full=full, deadline=deadline)
    except BaseException as exc:
        error = exc
        raise
    finally:
        result.calls = client.stats.calls
        result.rate_limited = client.stats.rate_limited
        result.seconds = time.monotonic() - started
        client.close()
        _finish(database, info.id, result, error, settings)
    return result


# --- read side -----------------------------------------------------------------------------------------


def source_of(connection: Connection) -> str:
    """The source the connection's records carry (`<platform>:<id>`)."""
    return f"{connection.platform}:{connection.id}"


def _people(session: Session, organization_id: int, sources: list[str]) -> dict[str, int]:
    """Contacts in the audience that each source brought (buyers included, not only contact records)."""
    if not sources:
        return {}
    rows = session.execute(
        select(ContactSource.source, func.count())
        .where(ContactSource.organization_id == organization_id, ContactSource.source.in_(sources))
        .group_by(ContactSource.source)
    ).all()
    return {source: int(count) for source, count in rows}


def connection_view(connection: Connection, public_url: str | None = None, contacts: int = 0) -> dict[str, Any]:
    """A connection as people see it. Events and orders count the records handed to ingest;
    contacts count the people in the audience that came from this connection (`contacts`)."""
    counts = {k: int((connection.counts or {}).get(k, 0)) for k in ("events", "orders", "calls")}
    return {
        "id": connection.id,
        "platform": connection.platform,
        "name": connection.name,
        "status": connection.status,
        "last_sync_at": iso_utc(connection.last_sync_at),
        "next_sync_at": iso_utc(connection.next_sync_at),
        "sync_interval_minutes": connection.sync_interval_minutes or get_settings().sync_interval_minutes,
        "counts": {
            "events": counts["events"],
            "orders": counts["orders"],
            "contacts": contacts,
            "calls": counts["calls"],
        },
        "last_error": connection.last_error,
        "last_error_at": iso_utc(connection.last_error_at),
        "webhook_url": webhook_url(connection, public_url),
    }


def list_connections(session: Session, organization_id: int, public_url: str | None = None) -> list[dict[str, Any]]:
    get_organization(session, organization_id)
    rows = list(
        session.scalars(select(Connection).where(Connection.organization_id == organization_id).order_by(Connection.id))
    )
    people = _people(session, organization_id, [source_of(c) for c in rows])
    return [connection_view(c, public_url, people.get(source_of(c), 0)) for c in rows]


def set_interval(database: Database, connection_id: int, minutes: int | None) -> None:
    with database.write() as session:
        _connection(session, connection_id).sync_interval_minutes = minutes


def request_sync(database: Database, organization_id: int, connection_id: int) -> None:
    """Make the organization's connection due now (the worker syncs it within seconds)."""
    with database.write() as session:
        get_connection(session, organization_id, connection_id).next_sync_at = utcnow()


def reconnect(database: Database, connection_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Replace some credentials (a rotated token, a new webhook secret), check them, and reactivate.

    The connection keeps its id, source and checkpoints, so nothing is re-imported under a new name.
    Values for credentials the connection's platform does not have are ignored.
    """
    info = load_info(database, connection_id)
    connector = connector_class(info.platform)
    names = {f.name for f in connector.fields if f.credential}
    credentials = {**info.credentials, **{k: v for k, v in changes.items() if v is not None and k in names}}
    checking, found = _verify(connector, info.base_url, credentials, info.settings)
    try:
        checking.check_reconnect(found)
    except ConnectorError as exc:
        raise ConnectFailed(f"{exc}; nothing was saved") from exc
    finally:
        checking.client.close()
    with database.write() as session:
        connection = _connection(session, connection_id)
        connection.credentials = encrypt_json(credentials)
        connection.status = ACTIVE
        connection.failures = 0
        connection.last_error = None
        connection.next_sync_at = utcnow()
        connection.updated_at = utcnow()
        people = _people(session, connection.organization_id, [source_of(connection)])
        return connection_view(connection, contacts=people.get(source_of(connection), 0))


class ConnectionRepository(Repository[Connection]):
    model = Connection
    noun = "connection"


def get_connection(session: Session, organization_id: int, connection_id: int) -> Connection:
    """The organization's connection, or NotFound (another organization's is not found either)."""
    return ConnectionRepository(session).get(organization_id, connection_id)
