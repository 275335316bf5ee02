"""HTTP: email provider event webhooks and the inbound-bounce endpoint (parse and answer only; the
rules are in `service` and `apply`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from fanhub.deliverability import service
from fanhub.deliverability.providers import PROVIDERS
from fanhub.http_errors import BODY_TOO_LARGE, ErrorResponse

router = APIRouter(tags=["Deliverability"])


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_RAW_MESSAGE = {
    "requestBody": {
        "required": True,
        # Any content type is read as the raw message (an MTA pipe sends message/rfc822).
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/v1/webhooks/email/{provider}",
    summary="Receive an email provider's bounce and complaint events",
    description=(
        "Amazon SES (through SNS, signature checked against the signing certificate), SendGrid (signed "
        "event webhook, ECDSA), Mailgun (HMAC) and Postmark (Basic auth in the URL). Forged, unsigned and "
        "stale requests get 4xx and change nothing; a replayed event changes nothing twice."
    ),
    response_model=None,
    responses={
        200: {"description": "Verified and applied: counts of hard, soft, complaints, ignored, unmatched."},
        400: _error("Malformed payload."),
        401: _error("Missing or wrong signature or credentials."),
        403: _error("Signature does not verify, or stale."),
        404: _error("Unknown provider."),
        413: BODY_TOO_LARGE,
        503: _error("This provider's key is not configured."),
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def provider_webhook(
    provider: Annotated[str, Path(description=f"One of {', '.join(PROVIDERS)}.")], request: Request
) -> JSONResponse:
    body = await request.body()
    answer = await run_in_threadpool(
        service.receive_provider_event, request.app.state.database, provider, dict(request.headers), body
    )
    return JSONResponse(answer.body, status_code=answer.status)


@router.post(
    "/v1/inbound/bounces",
    summary="Receive one bounce or complaint message (raw RFC 5322)",
    description="For an MTA pipe or a provider's inbound route; `Authorization: Bearer <FANHUB_INBOUND_TOKEN>`.",
    response_model=None,
    responses={
        200: {"description": "Read and applied: counts of hard, soft, complaints, ignored, unmatched."},
        400: _error("Empty body."),
        401: _error("Missing or wrong token."),
        413: BODY_TOO_LARGE,
        503: _error("FANHUB_INBOUND_TOKEN is not set."),
    },
    openapi_extra=_RAW_MESSAGE,
)
async def inbound_bounce(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> JSONResponse:
    raw = await request.body()
    answer = await run_in_threadpool(service.receive_inbound, request.app.state.database, authorization, raw)
    return JSONResponse(answer.body, status_code=answer.status)
