"""HTTP endpoints of campaigns: tracking (pixel, click, unsubscribe), SMS webhooks, per-campaign analytics.

Tracking URLs are public and carry signed tokens (`campaigns.tokens`). They never reveal whether a
token was valid beyond a plain 404 page, and the pixel always answers with the GIF.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fanhub.auth.dependencies import DB
from fanhub.campaigns import tokens, tracking
from fanhub.campaigns.models import Delivery
from fanhub.config import get_settings

router = APIRouter()

_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/t/o/{token}.gif", include_in_schema=False)
def open_pixel(token: str, request: Request, database: DB) -> Response:
    parsed = tokens.read_token(token, tokens.OPEN)
    if parsed is not None:
        with database.write() as session:
            tracking.record_open(session, parsed[0], request.headers.get("user-agent"), _client_ip(request))
    return Response(_GIF, media_type="image/gif", headers=_NO_STORE)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    markup = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(markup, status_code=status, headers=_NO_STORE)


_NOT_FOUND = ("Link not found", "<p>This link is not valid. It may have been copied incompletely.</p>", 404)


@router.get("/t/c/{token}", include_in_schema=False)
def click(token: str, request: Request, database: DB) -> Response:
    parsed = tokens.read_token(token, tokens.CLICK)
    if parsed is None or parsed[1] is None:
        return _page(*_NOT_FOUND)
    with database.write() as session:
        url = tracking.record_click(
            session, parsed[0], parsed[1], request.headers.get("user-agent"), _client_ip(request)
        )
    if url is None:
        return _page(*_NOT_FOUND)
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


def _masked(address: str) -> str:
    if "@" in address:
        local, _, domain = address.partition("@")
        return (local[:2] + "…" if len(local) > 2 else local) + "@" + domain
    return "…" + address[-4:]


@router.get("/t/u/{token}", include_in_schema=False)
def unsubscribe_page(token: str, database: DB) -> Response:
    """A confirmation page: mail scanners follow GET links, so GET alone never unsubscribes."""
    parsed = tokens.read_token(token, tokens.UNSUBSCRIBE)
    if parsed is None:
        return _page(*_NOT_FOUND)
    with database.read() as session:
        delivery = session.get(Delivery, parsed[0])
        if delivery is None:
            return _page(*_NOT_FOUND)
        address, channel = delivery.address, delivery.channel
    what = "emails" if channel == "email" else "text messages"
    return _page(
        "Unsubscribe",
        f"<p>Stop marketing {what} to <strong>{html.escape(_masked(address))}</strong>?</p>"
        f"<form method='post' action='/t/u/{html.escape(token)}'>"
        "<button type='submit' name='confirm' value='yes'>Unsubscribe</button></form>",
    )


@router.post("/t/u/{token}", include_in_schema=False)
async def unsubscribe_post(token: str, request: Request, database: DB) -> Response:
    """The form's POST and RFC 8058 one-click (`List-Unsubscribe=One-Click`): no CSRF token, the
    signed URL is the authority, and the action is idempotent."""
    parsed = tokens.read_token(token, tokens.UNSUBSCRIBE)
    if parsed is None:
        return _page(*_NOT_FOUND)
    raw = (await request.body()).decode("utf-8", "replace")
    method = "one_click" if "List-Unsubscribe=One-Click" in raw else "page"
    with database.write() as session:
        delivery = tracking.unsubscribe(session, parsed[0], method)
        if delivery is None:
            return _page(*_NOT_FOUND)
        channel = delivery.channel
    what = "emails" if channel == "email" else "text messages"
    return _page("You are unsubscribed", f"<p>You will not receive marketing {what} from us any more.</p>")


def _twilio_signature_ok(request: Request, params: dict[str, str]) -> bool:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 over the URL it called plus sorted form pairs.

    False when no provider token is configured (outbox mode): an SMS webhook fanhub cannot verify
    could come from anyone, and a forged STOP/START would change consent in every organization.
    """
    settings = get_settings()
    if not settings.sms_auth_token:
        return False
    signature = request.headers.get("x-twilio-signature", "")
    url = settings.public_url.rstrip("/") + request.url.path
    payload = url + "".join(k + params[k] for k in sorted(params))
    expected = base64.b64encode(
        hmac.new(settings.sms_auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    ).decode()
    # Bytes, not str: compare_digest raises on non-ASCII str, and the header is caller-controlled.
    return hmac.compare_digest(signature.encode("utf-8", "surrogateescape"), expected.encode())


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


_TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post("/t/sms/inbound", include_in_schema=False)
async def sms_inbound(request: Request, database: DB) -> Response:
    params = await _form(request)
    if not _twilio_signature_ok(request, params):
        return Response("invalid signature", status_code=403)
    with database.write() as session:
        tracking.inbound_sms(session, params.get("From", ""), params.get("Body", ""))
    return Response(_TWIML_EMPTY, media_type="application/xml")


@router.post("/t/sms/status/{token}", include_in_schema=False)
async def sms_status_callback(token: str, request: Request, database: DB) -> Response:
    params = await _form(request)
    parsed = tokens.read_token(token, tokens.SMS_STATUS)
    if parsed is None or not _twilio_signature_ok(request, params):
        return Response("invalid", status_code=403)
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    with database.write() as session:
        tracking.sms_status(session, parsed[0], status, params.get("ErrorCode"))
    return Response(status_code=204)
