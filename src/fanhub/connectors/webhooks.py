"""Webhook deliveries: checked and stored durably on receipt, processed later by the worker.

Receiving (`receive`) does only what must happen before answering: find the connection by id and
path secret, check what the platform lets us check (Ticket Tailor signature and age; Eventbrite
webhook id and API host; Ticketor payload type) and store the delivery, deduplicated. Processing
(`process_due`) claims due deliveries, re-fetches or maps them, and enqueues the canonical records
in the same transaction that marks the delivery done. Failures keep the delivery and retry it with
backoff; nothing is dropped.
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

from fanhub.connectors import eventbrite, ticketor, tickettailor
from fanhub.connectors.base import ConnectorError, is_under
from fanhub.connectors.models import DONE, FAILED, IGNORED, PENDING, Connection, WebhookDelivery
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


@dataclass
class Receipt:
    status: int
    body: dict[str, Any]


def _reject(status: int, message: str, field: str | None = None) -> Receipt:
    body: dict[str, Any] = {"code": status, "message": message}
    if field is not None:
        body["errors"] = [{"index": None, "field": field, "message": "required"}]
    return Receipt(status, body)


def receive(
    database: Database,
    platform: str,
    connection_id: int,
    secret: str,
    headers: Mapping[str, str],
    raw_body: bytes,
    query: Mapping[str, str] | None = None,
) -> Receipt:
    if not 1 <= connection_id <= MAX_ID:  # the database cannot even be asked about it
        return _reject(404, "no such webhook endpoint")
    with database.read() as session:
        connection = session.get(Connection, connection_id)
        # Same answer for unknown connection and wrong secret: nothing to learn by probing.
        if (
            connection is None
            or connection.platform != platform
            or not hmac.compare_digest(connection.webhook_secret.encode(), secret.encode())
        ):
            return _reject(404, "no such webhook endpoint")
        info = info_of(connection)
    try:
        body = json.loads(raw_body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        return _reject(400, "body is not JSON (or is nested too deeply)")
    if not isinstance(body, dict):
        return _reject(400, "body is not a JSON object")

    dedupe_key: str | None
    ref: str | None
    if platform == tickettailor.PLATFORM:
        secret_key = info.credentials.get("webhook_secret")
        if not secret_key:
            return _reject(401, "no webhook secret configured for this connection (connect with --webhook-secret)")
        problem = tickettailor.verify_signature(headers.get(tickettailor.SIGNATURE_HEADER), raw_body, secret_key)
        if problem is not None:
            return _reject(401, problem)
        if not body.get("id"):
            return _reject(400, "delivery has no id")
        kind = str(body.get("event") or "unknown")[:64]
        dedupe_key, ref = f"tt:{body['id']}", None
    elif platform == eventbrite.PLATFORM:
        config = body.get("config") if isinstance(body.get("config"), dict) else {}
        hook_id = str((config or {}).get("webhook_id") or "")
        if hook_id not in {str(h) for h in info.settings.get("webhook_ids", [])}:
            return _reject(403, "unknown webhook_id for this connection")
        api_url = str(body.get("api_url") or "")
        # Never fetch a URL the body names unless it is on this connection's own API.
        if not is_under(info.base_url, api_url):
            return _reject(403, "api_url is not on this connection's API host")
        kind = str((config or {}).get("action") or "unknown")[:64]
        body = {"api_url": api_url, "config": config}
        dedupe_key, ref = None, f"{kind} {api_url}"[:500]
    elif platform == ticketor.PLATFORM:
        detected = ticketor.detect_kind(body, (query or {}).get("type"))
        if detected is None:
            return _reject(422, f"not one of the Ticketor webhook payloads: {', '.join(ticketor.KINDS)}")
        kind = detected
        if body.get("Id") in (None, ""):  # a `type` hint names the kind of payloads that lack an Id
            return _reject(400, "delivery has no Id", field="Id")
        body = ticketor.scrub(body)
        dedupe_key, ref = ticketor.delivery_keys(kind, body)
    else:
        return _reject(404, "no such webhook endpoint")

    now = utcnow()
    try:
        with database.write() as session:
            if ref is not None and platform == eventbrite.PLATFORM:
                # Eventbrite sends no delivery id: a signal already waiting covers this one.
                waiting = session.scalars(
                    select(WebhookDelivery.id).where(
                        WebhookDelivery.connection_id == connection_id,
                        WebhookDelivery.ref == ref,
                        WebhookDelivery.status == PENDING,
                        WebhookDelivery.attempts == 0,
                    )
                ).first()
                if waiting is not None:
                    return Receipt(200, {"received": True, "duplicate": True})
            session.add(
                WebhookDelivery(
                    connection_id=connection_id,
                    organization_id=info.organization_id,
                    platform=platform,
                    kind=kind,
                    dedupe_key=dedupe_key,
                    ref=ref,
                    body=body,
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


def _outcome(database: Database, delivery: WebhookDelivery, info: ConnectionInfo) -> WebhookOutcome:
    if delivery.platform == ticketor.PLATFORM:
        if delivery.kind == "new_user":
            contact = ticketor.map_user(delivery.body)
            return WebhookOutcome(contacts=[contact] if contact else [])
        return ticketor.assemble_invoice(
            _related(database, delivery), str(info.settings.get("currency") or "USD"), info.settings.get("time_zone")
        )
    client = make_client(info.platform, info.base_url, info.credentials, options=ClientOptions())
    try:
        connector = make_connector(info, client)
        if isinstance(connector, eventbrite.EventbriteConnector):
            age = (utcnow() - delivery.received_at).total_seconds()
            return connector.process_webhook(delivery.body, delivery.attempts, age)
        if isinstance(connector, tickettailor.TicketTailorConnector):
            return connector.process_webhook(delivery.body)
        raise ValueError(f"unknown platform {info.platform!r}")
    finally:
        client.close()


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
