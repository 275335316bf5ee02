"""HTTP: the webhook receiver `POST /v1/webhooks/{platform}/{connection_id}/{secret}`.

It answers 2xx once the delivery is durably stored (the worker processes it), 4xx when the
delivery fails its checks. It never answers 3xx (Ticket Tailor marks redirects as failures) or 410
(Eventbrite unsubscribes an endpoint that answers 410).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fanhub.connectors import webhooks
from fanhub.connectors.registry import PLATFORMS
from fanhub.http_errors import BODY_TOO_LARGE, ErrorResponse

router = APIRouter(tags=["Webhooks"])


class WebhookReceived(BaseModel):
    received: bool
    duplicate: bool = Field(description="True when this delivery was already stored (nothing new queued).")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": WebhookReceived, "description": "Stored durably; the worker processes it."},
    # Each platform's checks, from its webhook handler (registry.PLATFORMS).
    **{status: _error(text) for status, text in webhooks.documented_responses().items()},
    413: BODY_TOO_LARGE,
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
async def receive_webhook(
    platform: Annotated[str, Path(description=f"The platform: one of {', '.join(PLATFORMS)}.")],
    connection_id: int,
    secret: str,
    request: Request,
) -> JSONResponse:
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
