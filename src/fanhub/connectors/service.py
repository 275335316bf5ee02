"""Connections: connect (credentials checked against the platform before anything is saved), run a
sync with its bookkeeping, list connections, and build each platform's client and connector.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.config import Settings, get_settings
from fanhub.connectors import eventbrite, ticketor, tickettailor
from fanhub.connectors.base import ApiClient, AuthError, CallBudget, ConnectorError, RetryPolicy
from fanhub.connectors.crypto import decrypt_json, encrypt_json
from fanhub.connectors.models import ACTIVE, BROKEN, Connection
from fanhub.connectors.sync import LEASE_SECONDS, ConnectionInfo, Connector, Progress, SyncResult, SyncWriter
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.db.repository import Repository
from fanhub.errors import FanhubError, NotFound
from fanhub.organizations.service import get_organization
from fanhub.timeutil import iso_utc

PLATFORMS = (eventbrite.PLATFORM, tickettailor.PLATFORM, ticketor.PLATFORM)
DEFAULT_BASE_URLS = {eventbrite.PLATFORM: eventbrite.API_BASE, tickettailor.PLATFORM: tickettailor.API_BASE}


class ConnectFailed(FanhubError):
    """The platform refused the credentials (or could not be reached); nothing was saved."""


class ChooseOrganization(FanhubError):
    """The Eventbrite token sees several organizations: the caller must pick one."""

    def __init__(self, organizations: list[dict[str, Any]]) -> None:
        super().__init__("this token can see several Eventbrite organizations; choose one with --organization-id")
        self.organizations = organizations


class SyncBusy(FanhubError):
    """Another process is syncing this connection right now."""


@dataclass
class ClientOptions:
    """Knobs tests and the benchmark turn; production uses the defaults and settings."""

    retry: RetryPolicy | None = None
    sleep: Callable[[float], None] = time.sleep
    budget_calls: int | None = None
    budget_window: float = 3600.0
    on_wait: Callable[[str, float], None] | None = None


def make_client(
    platform: str,
    base_url: str,
    credentials: dict[str, Any],
    settings: Settings | None = None,
    options: ClientOptions | None = None,
) -> ApiClient:
    settings = settings or get_settings()
    options = options or ClientOptions()
    retry = options.retry or RetryPolicy()
    if platform == eventbrite.PLATFORM:
        token = str(credentials["token"])
        calls = options.budget_calls or settings.eventbrite_calls_per_hour
        return ApiClient(
            base_url,
            eventbrite.classify,
            headers={"Authorization": f"Bearer {token}"},
            budget=CallBudget.for_token(token, calls, options.budget_window),
            retry=retry,
            sleep=options.sleep,
            on_wait=options.on_wait,
        )
    if platform == tickettailor.PLATFORM:
        key = str(credentials["api_key"])
        budget = (
            CallBudget.for_token(key, options.budget_calls, options.budget_window) if options.budget_calls else None
        )
        return ApiClient(
            base_url,
            tickettailor.classify,
            auth=httpx.BasicAuth(key, ""),
            budget=budget,
            retry=retry,
            sleep=options.sleep,
            on_wait=options.on_wait,
            pause_when_exhausted=True,
        )
    if platform == ticketor.PLATFORM:
        return ApiClient(
            base_url,
            ticketor.classify,
            auth=httpx.BasicAuth(str(credentials["username"]), str(credentials["password"])),
            retry=retry,
            sleep=options.sleep,
            on_wait=options.on_wait,
        )
    raise ValueError(f"unknown platform {platform!r}")


def make_connector(info: ConnectionInfo, client: ApiClient, settings: Settings | None = None) -> Connector:
    settings = settings or get_settings()
    if info.platform == eventbrite.PLATFORM:
        return eventbrite.EventbriteConnector(info, client, settings.eventbrite_order_overlap_minutes)
    if info.platform == tickettailor.PLATFORM:
        return tickettailor.TicketTailorConnector(info, client, settings.tickettailor_rescan_days)
    if info.platform == ticketor.PLATFORM:
        return ticketor.TicketorConnector(info, client)
    raise ValueError(f"unknown platform {info.platform!r}")


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
        connection = session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"connection {connection_id} not found")
        return info_of(connection)


def webhook_url(connection: Connection, public_url: str | None = None) -> str:
    base = (public_url or get_settings().public_url).rstrip("/")
    return f"{base}/v1/webhooks/{connection.platform}/{connection.id}/{connection.webhook_secret}"


# --- connect -----------------------------------------------------------------------------------------


def _verify(
    platform: str, base_url: str, credentials: dict[str, Any], settings_: dict[str, Any]
) -> tuple[Connector, dict[str, Any]]:
    info = ConnectionInfo(0, 0, platform, base_url, credentials, settings_)
    # A credential check should answer quickly: few retries, short waits.
    client = make_client(platform, base_url, credentials, options=ClientOptions(retry=RetryPolicy(attempts=2, cap=2)))
    connector = make_connector(info, client)
    try:
        return connector, connector.verify()
    except AuthError as exc:
        raise ConnectFailed(
            f"{platform} rejected the credentials ({exc.code or exc.status}); nothing was saved"
        ) from exc
    except ConnectorError as exc:
        raise ConnectFailed(f"could not verify the credentials with {platform}: {exc}; nothing was saved") from exc


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


def connect_eventbrite(
    database: Database,
    organization_id: int,
    token: str,
    *,
    eventbrite_organization_id: str | None = None,
    base_url: str | None = None,
    public_url: str | None = None,
) -> dict[str, Any]:
    base_url = (base_url or eventbrite.API_BASE).rstrip("/")
    credentials = {"token": token}
    connector, found = _verify(eventbrite.PLATFORM, base_url, credentials, {})
    organizations = found["organizations"]
    if eventbrite_organization_id is None:
        if len(organizations) == 1:
            eventbrite_organization_id = organizations[0]["id"]
        elif not organizations:
            raise ConnectFailed("this token sees no Eventbrite organization; nothing was saved")
        else:
            raise ChooseOrganization(organizations)
    chosen = next((o for o in organizations if o["id"] == str(eventbrite_organization_id)), None)
    if chosen is None:
        raise ConnectFailed(f"Eventbrite organization {eventbrite_organization_id} is not visible to this token")
    connection = _create(
        database,
        organization_id,
        eventbrite.PLATFORM,
        base_url,
        credentials,
        {"organization_id": chosen["id"], "webhook_ids": []},
        chosen.get("name") or "",
    )
    result: dict[str, Any] = {"id": connection.id, "webhook_url": webhook_url(connection, public_url)}
    result["eventbrite_organization_id"] = chosen["id"]
    if public_url:
        info = ConnectionInfo(
            connection.id,
            organization_id,
            eventbrite.PLATFORM,
            base_url,
            credentials,
            {"organization_id": chosen["id"]},
        )
        try:
            hook_id = eventbrite.EventbriteConnector(info, connector.client).register_webhook(result["webhook_url"])
        except ConnectorError as exc:
            # The connection works for syncs; say why webhooks are missing instead of failing it.
            result["webhook_error"] = str(exc)
        else:
            add_webhook_id(database, connection.id, hook_id)
            result["webhook_id"] = hook_id
    return result


def add_webhook_id(database: Database, connection_id: int, hook_id: str) -> None:
    with database.write() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"connection {connection_id} not found")
        settings_ = dict(connection.settings or {})
        settings_["webhook_ids"] = sorted({*settings_.get("webhook_ids", []), str(hook_id)})
        connection.settings = settings_


def connect_tickettailor(
    database: Database,
    organization_id: int,
    api_key: str,
    *,
    webhook_secret: str | None = None,
    base_url: str | None = None,
    public_url: str | None = None,
) -> dict[str, Any]:
    base_url = (base_url or tickettailor.API_BASE).rstrip("/")
    credentials = {"api_key": api_key, "webhook_secret": webhook_secret}
    _verify(tickettailor.PLATFORM, base_url, credentials, {})
    connection = _create(database, organization_id, tickettailor.PLATFORM, base_url, credentials, {}, "Ticket Tailor")
    return {"id": connection.id, "webhook_url": webhook_url(connection, public_url)}


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
    base_url = (base_url or ticketor.base_url_for(site)).rstrip("/")
    credentials = {"username": username, "password": password}
    settings_ = {"site": site, "client_id": str(client_id), "currency": currency.upper(), "time_zone": time_zone}
    _verify(ticketor.PLATFORM, base_url, credentials, settings_)
    connection = _create(database, organization_id, ticketor.PLATFORM, base_url, credentials, settings_, site)
    return {"id": connection.id, "webhook_url": webhook_url(connection, public_url)}


# --- sync --------------------------------------------------------------------------------------------


def _claim(database: Database, connection_id: int, force: bool) -> ConnectionInfo:
    with database.write() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"connection {connection_id} not found")
        now = utcnow()
        if connection.lease_until is not None and connection.lease_until > now and not force:
            raise SyncBusy(f"connection {connection_id} is being synced by another process")
        if connection.status == BROKEN and not force:
            raise ConnectFailed(f"connection {connection_id} is broken: {connection.last_error}")
        connection.lease_until = now + timedelta(seconds=LEASE_SECONDS)
        return info_of(connection)


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
) -> SyncResult:
    """Run one sync of a connection (resuming from its checkpoints). Errors are recorded and re-raised."""
    settings = get_settings()
    info = _claim(database, connection_id, force)
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
        _finish(database, connection_id, result, error, settings)
    return result


# --- read side -----------------------------------------------------------------------------------------


def connection_view(connection: Connection, public_url: str | None = None) -> dict[str, Any]:
    counts = connection.counts or {}
    return {
        "id": connection.id,
        "platform": connection.platform,
        "name": connection.name,
        "status": connection.status,
        "last_sync_at": iso_utc(connection.last_sync_at),
        "next_sync_at": iso_utc(connection.next_sync_at),
        "sync_interval_minutes": connection.sync_interval_minutes or get_settings().sync_interval_minutes,
        "counts": {k: int(counts.get(k, 0)) for k in ("events", "orders", "contacts", "calls")},
        "last_error": connection.last_error,
        "last_error_at": iso_utc(connection.last_error_at),
        "webhook_url": webhook_url(connection, public_url),
    }


def list_connections(session: Session, organization_id: int) -> list[dict[str, Any]]:
    get_organization(session, organization_id)
    rows = session.scalars(
        select(Connection).where(Connection.organization_id == organization_id).order_by(Connection.id)
    )
    return [connection_view(c) for c in rows]


def set_interval(database: Database, connection_id: int, minutes: int | None) -> None:
    with database.write() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"connection {connection_id} not found")
        connection.sync_interval_minutes = minutes


def reconnect(database: Database, connection_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Replace some credentials (a rotated token, a new webhook secret), check them, and reactivate.

    The connection keeps its id, source and checkpoints, so nothing is re-imported under a new name.
    """
    with database.read() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"connection {connection_id} not found")
        info = info_of(connection)
    credentials = {**info.credentials, **{k: v for k, v in changes.items() if v is not None}}
    _, found = _verify(info.platform, info.base_url, credentials, info.settings)
    if info.platform == eventbrite.PLATFORM:
        visible = {o["id"] for o in found["organizations"]}
        if str(info.settings.get("organization_id")) not in visible:
            raise ConnectFailed("this token cannot see the connection's Eventbrite organization; nothing was saved")
    with database.write() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"connection {connection_id} not found")
        connection.credentials = encrypt_json(credentials)
        connection.status = ACTIVE
        connection.failures = 0
        connection.last_error = None
        connection.next_sync_at = utcnow()
        connection.updated_at = utcnow()
        return connection_view(connection)


class ConnectionRepository(Repository[Connection]):
    model = Connection
    noun = "connection"


def get_connection(session: Session, organization_id: int, connection_id: int) -> Connection:
    """The organization's connection, or NotFound (another organization's is not found either)."""
    return ConnectionRepository(session).get(organization_id, connection_id)
