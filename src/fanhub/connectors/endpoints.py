"""HTTP: the webhook receiver `POST /v1/webhooks/{platform}/{connection_id}/{secret}`.

It answers 2xx once the delivery is durably stored (the worker processes it), 4xx when the
delivery fails its checks. It never answers 3xx (Ticket Tailor marks redirects as failures) or 410
(Eventbrite unsubscribes an endpoint that answers 410).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from fanhub.connectors import webhooks

router = APIRouter(tags=["Webhooks"])


@router.post(
    "/v1/webhooks/{platform}/{connection_id}/{secret}",
    summary="Receive a ticketing platform's webhook delivery",
    response_model=None,
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
