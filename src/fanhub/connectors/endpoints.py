"""HTTP: the webhook receiver `POST /v1/webhooks/{platform}/{connection_id}/{secret}`.

It answers 2xx once the delivery is durably stored (the worker processes it), 4xx when the
delivery fails its checks. It never answers 3xx (Ticket Tailor marks redirects as failures) or 410
(Eventbrite unsubscribes an endpoint that answers 410).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fanhub.connectors import webhooks
from fanhub.http_errors import BODY_TOO_LARGE, ErrorResponse

router = APIRouter(tags=["Webhooks"])


class WebhookReceived(BaseModel):
    received: bool
    duplicate: bool = Field(description="True when this delivery was already stored (nothing new queued).")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": WebhookReceived, "description": "Stored durably; the worker processes it."},
    400: _error("The body is not a JSON object, or the delivery has no id."),
    401: _error("Ticket Tailor: no webhook secret configured, or a missing, stale or wrong signature."),
    403: _error("Eventbrite: a webhook_id this connection did not create, or an api_url off its API host."),
    404: _error("No such webhook endpoint (unknown connection, platform or secret)."),
    413: BODY_TOO_LARGE,
    422: _error("Invalid path parameter, or not one of the Ticketor webhook payloads."),
}


@router.post(
    "/v1/webhooks/{platform}/{connection_id}/{secret}",
    summary="Receive a ticketing platform's webhook delivery",
    response_model=None,
    responses=WEBHOOK_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": "The platform's payload."}}},
        }
    },
)
async def receive_webhook(platform: str, connection_id: int, secret: str, request: Request) -> JSONResponse:
    raw = await request.body()
    database = request.app.state.database
    receipt = await run_in_threadpool(
        webhooks.receive,
        database,
        platform,
        connection_id,
        secret,
        {k.lower(): v for k, v in request.headers.items()},
        raw,
        dict(request.query_params),
    )
    worker = getattr(request.app.state, "worker", None)
    if receipt.status < 300 and worker is not None:
        worker.wake()
    return JSONResponse(receipt.body, status_code=receipt.status)
