"""Webhook deliveries: checked and stored durably on receipt, processed later by the worker.

Receiving (`receive`) does only what must happen before answering: find the connection by id and
path secret, let the platform's handler check what the platform lets us check (Ticket Tailor
signature and age; Eventbrite webhook id and API host; Ticketor payload type) and store the
delivery, deduplicated. Processing (`process_due`) claims due deliveries, has the handler re-fetch
or map them, and enqueues the canonical records in the same transaction that marks the delivery
done. Failures keep the delivery and retry it with backoff; nothing is dropped. Which handler
serves a delivery is the registry's answer (`registry.PLATFORMS`); nothing here names a platform.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fanhub.connectors.base import ApiClient, ConnectorError
from fanhub.connectors.connector import Accepted, Connector, Delivery, Rejected
from fanhub.connectors.models import DONE, FAILED, IGNORED, PENDING, Connection, WebhookDelivery
from fanhub.connectors.registry import PLATFORMS
from fanhub.connectors.service import ClientOptions, info_of, make_client, make_connector
from fanhub.connectors.sync import ConnectionInfo, WebhookOutcome
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.ingest.records import ContactBatch, EventBatch, OrderBatch
from fanhub.ingest.service import enqueue_batch

log = logging.getLogger(__name__)
MAX_ID = 2**63 - 1
MAX_ATTEMPTS = 30  # about three days of capped backoff; the row is kept (status failed) afterwards
LEASE = timedelta(minutes=5)
NO_ENDPOINT = "no such webhook endpoint"

# What the receiver may answer whatever the platform; each platform's handler adds its own reasons.
COMMON_RESPONSES = {
    400: "The body is not a JSON object.",
    404: "No such webhook endpoint (unknown connection, platform or secret).",
    422: "Invalid path parameter.",
}


@dataclass
class Receipt:
    status: int
    body: dict[str, Any]


def documented_responses() -> dict[int, str]:
    """Every answer the receiver may give, with why, per platform (for the OpenAPI document)."""
    described = {status: [text] for status, text in COMMON_RESPONSES.items()}
    for connector in PLATFORMS.values():
        for status, text in connector.webhooks.responses.items():
            described.setdefault(status, []).append(f"{connector.label}: {text}.")
    return {status: " ".join(texts) for status, texts in sorted(described.items())}


def _reject(status: int, message: str, field: str | None = None) -> Receipt:
    body: dict[str, Any] = {"code": status, "message": message}
    if field is not None:
        body["errors"] = [{"index": None, "field": field, "message": "required"}]
    return Receipt(status, body)


def _endpoint(database: Database, platform: str, connection_id: int, secret: str) -> ConnectionInfo | None:
    """The connection this URL names, or None: the same answer for an unknown one and a wrong secret."""
    if not 1 <= connection_id <= MAX_ID:  # the database cannot even be asked about it
        return None
    with database.read() as session:
        connection = session.get(Connection, connection_id)
        if (
            connection is None
            or connection.platform != platform
            or not hmac.compare_digest(connection.webhook_secret.encode(), secret.encode())
        ):
            return None
        return info_of(connection)


def _json_object(raw_body: bytes) -> dict[str, Any] | Receipt:
    try:
        body = json.loads(raw_body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        return _reject(400, "body is not JSON (or is nested too deeply)")
    if not isinstance(body, dict):
        return _reject(400, "body is not a JSON object")
    return body


def receive(
    database: Database,
    platform: str,
    connection_id: int,
    secret: str,
    headers: Mapping[str, str],
    raw_body: bytes,
    query: Mapping[str, str] | None = None,
) -> Receipt:
    connector = PLATFORMS.get(platform)
    info = _endpoint(database, platform, connection_id, secret) if connector is not None else None
    if connector is None or info is None:
        return _reject(404, NO_ENDPOINT)
    body = _json_object(raw_body)
    if isinstance(body, Receipt):
        return body
    verdict = connector.webhooks.accept(info, headers, raw_body, body, query or {})
    if isinstance(verdict, Rejected):
        return _reject(verdict.status, verdict.message, verdict.field)
    return _store(database, info, verdict)


def _store(database: Database, info: ConnectionInfo, accepted: Accepted) -> Receipt:
    now = utcnow()
    try:
        with database.write() as session:
            if accepted.coalesce and accepted.ref is not None:
                # No delivery id to dedupe on: a delivery about the same object still waiting covers this one.
                waiting = session.scalars(
                    select(WebhookDelivery.id).where(
                        WebhookDelivery.connection_id == info.id,
                        WebhookDelivery.ref == accepted.ref,
                        WebhookDelivery.status == PENDING,
                        WebhookDelivery.attempts == 0,
                    )
                ).first()
                if waiting is not None:
                    return Receipt(200, {"received": True, "duplicate": True})
            session.add(
                WebhookDelivery(
                    connection_id=info.id,
                    organization_id=info.organization_id,
                    platform=info.platform,
                    kind=accepted.kind,
                    dedupe_key=accepted.dedupe_key,
                    ref=accepted.ref,
                    body=accepted.body,
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    received_at=now,
                )
            )
            session.flush()
    except IntegrityError:
        return Receipt(200, {"received": True, "duplicate": True})
    return Receipt(200, {"received": True, "duplicate": False})


# --- processing ------------------------------------------------------------------------------------


def _claim(database: Database, limit: int) -> list[int]:
    now = utcnow()
    with database.write() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
            .where((WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < now))
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.lease_until = now + LEASE
            row.attempts += 1
        return [row.id for row in rows]


def _related(database: Database, delivery: WebhookDelivery) -> list[tuple[str, dict[str, Any]]]:
    with database.read() as session:
        rows = session.execute(
            select(WebhookDelivery.kind, WebhookDelivery.body)
            .where(
                WebhookDelivery.connection_id == delivery.connection_id,
                WebhookDelivery.ref == delivery.ref,
                WebhookDelivery.status.in_((PENDING, DONE)),
            )
            .order_by(WebhookDelivery.id)
        ).all()
        return [(kind, dict(body)) for kind, body in rows]


class _Context:
    """What a handler may use while processing one delivery (`connector.WebhookContext`)."""

    def __init__(self, database: Database, delivery: WebhookDelivery, info: ConnectionInfo) -> None:
        self.database = database
        self.delivery = delivery
        self.info = info
        self._client: ApiClient | None = None
        self._connector: Connector | None = None

    @property
    def connector(self) -> Connector:
        # Made on first use: a handler that only maps stored payloads (Ticketor) calls nobody.
        if self._connector is None:
            info = self.info
            self._client = make_client(info.platform, info.base_url, info.credentials, options=ClientOptions())
            self._connector = make_connector(info, self._client)
        return self._connector

    def related(self) -> list[tuple[str, dict[str, Any]]]:
        """(kind, body) of every delivery stored about the same `ref`, oldest first."""
        return _related(self.database, self.delivery)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _outcome(database: Database, delivery: WebhookDelivery, info: ConnectionInfo) -> WebhookOutcome:
    handler = PLATFORMS[info.platform].webhooks
    age = (utcnow() - delivery.received_at).total_seconds()
    context = _Context(database, delivery, info)
    try:
        return handler.process(Delivery(delivery.kind, delivery.body, delivery.attempts, age), context)
    finally:
        context.close()


def _enqueue(session: Any, info: ConnectionInfo, outcome: WebhookOutcome) -> None:
    batches: tuple[tuple[str, Any, Sequence[Any]], ...] = (
        ("events", EventBatch, outcome.events),
        ("orders", OrderBatch, outcome.orders),
        ("contacts", ContactBatch, outcome.contacts),
    )
    for kind, model, records in batches:
        if records:
            payload = model(**{kind: records}).model_dump_json()
            enqueue_batch(session, info.organization_id, info.source, kind, payload, len(records))


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 15 * 2 ** max(0, attempts - 1)))


def process_one(database: Database, delivery_id: int) -> str:
    """Process one claimed delivery; returns its new status."""
    with database.read() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return IGNORED
        session.expunge(delivery)
        connection = session.get(Connection, delivery.connection_id)
        info = info_of(connection) if connection is not None else None
    error: str | None = None
    outcome: WebhookOutcome | None = None
    permanent = False
    if info is None:
        error, permanent = "connection deleted", True
    else:
        try:
            outcome = _outcome(database, delivery, info)
        except ConnectorError as exc:
            error = f"{type(exc).__name__}: {exc}"
            permanent = exc.code == "FOREIGN_URL"
        except Exception as exc:  # a bug or malformed payload: keep the delivery, report it, retry later
            log.exception("webhook delivery %s failed", delivery_id)
            error = f"{type(exc).__name__}: {exc}"
    now = utcnow()
    with database.write() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return IGNORED
        row.lease_until = None
        if outcome is not None and info is not None:
            _enqueue(session, info, outcome)
            row.last_error = outcome.note
            if outcome.recheck_after is not None:
                row.status = PENDING
                row.next_attempt_at = now + timedelta(seconds=outcome.recheck_after)
            else:
                row.status = DONE
                row.processed_at = now
            return row.status
        row.last_error = (error or "failed")[:2000]
        if permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = FAILED
            row.processed_at = now
        else:
            row.status = PENDING
            row.next_attempt_at = now + retry_delay(row.attempts)
        return row.status


def process_due(database: Database, limit: int = 20) -> int:
    """Process up to `limit` due deliveries; returns how many were claimed."""
    ids = _claim(database, limit)
    for delivery_id in ids:
        try:
            process_one(database, delivery_id)
        except Exception:  # one bad delivery never stops the others
            log.exception("webhook delivery %s could not be processed", delivery_id)
    return len(ids)
