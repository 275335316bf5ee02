"""Public pages of the signup forms, under `/f/`: no login, no cookie, no script.

- `GET /f/<key>` the hosted form; `POST /f/<key>` a submission (form-encoded, from the hosted page
  or from `embed_html` on another site: a plain cross-origin form post needs no CORS), answered
  with 303 to `/f/<key>/thanks` whether it was stored or dropped as a bot's; a bad field re-shows
  the form with 400 naming it; too many submissions get 429 with `Retry-After`.
- `GET /f/c/<token>` shows a "Confirm" button and changes nothing (mail scanners fetch every
  link); `POST /f/c/<token>` confirms (again: "already confirmed").

The rules live in `forms.service` and `forms.abuse`; this module parses and renders.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fanhub.auth.dependencies import DB
from fanhub.config import get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.forms import pages, service
from fanhub.forms.abuse import HONEYPOT

router = APIRouter(include_in_schema=False)

# The confirmation link carries a token: never cached, never indexed, never leaked in a Referer.
_PRIVATE = {"Cache-Control": "no-store, private", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
_MESSAGES = {
    "confirmed": ("You're subscribed", "Thank you: your subscription is confirmed."),
    "already_confirmed": ("Already confirmed", "This subscription was already confirmed; nothing more to do."),
    "expired": ("Link expired", "This confirmation link has expired. Sign up again to get a new one."),
    "invalid": ("Link not valid", "This confirmation link is not valid. Check that it was copied whole."),
}


def _info(request: Request) -> service.RequestInfo:
    headers = request.headers
    return service.RequestInfo(
        ip=request.client.host if request.client else None,
        user_agent=(headers.get("user-agent") or "")[:400] or None,
        # The page the form was on: the Referer, or the Origin when the embedding site sends no Referer.
        page_url=(headers.get("referer") or headers.get("origin") or "")[:2000] or None,
    )


def _organization_name(database: Database, organization_id: int) -> str:
    from fanhub.organizations.service import get_organization

    with database.read() as session:
        return get_organization(session, organization_id).name


def _load(database: Database, key: str) -> tuple[service.Form, str] | None:
    try:
        with database.read() as session:
            form = service.public_form(session, key)
            session.expunge(form)
    except NotFound:
        return None
    return form, _organization_name(database, form.organization_id)


def _not_found() -> HTMLResponse:
    return HTMLResponse(pages.message_page("Form not found", "", "This form does not exist.", ok=False), 404)


@router.get("/f/c/{token}")
async def confirmation(token: str, database: DB) -> HTMLResponse:
    found = await run_in_threadpool(service.confirmation_page, database, token)
    if found.state != "ready":
        title, message = _MESSAGES[found.state]
        status = 404 if found.state == "invalid" else 200
        return HTMLResponse(pages.message_page(title, found.organization_name, message), status, headers=_PRIVATE)
    message = f"Press the button to confirm that you want emails from {found.organization_name}."
    markup = pages.confirm_page("Confirm your subscription", found.organization_name, message, f"/f/c/{token}")
    return HTMLResponse(markup, headers=_PRIVATE)


@router.post("/f/c/{token}")
async def confirm(token: str, request: Request, database: DB) -> HTMLResponse:
    done = await run_in_threadpool(service.confirm, database, token, _info(request))
    title, message = _MESSAGES[done.state]
    status = 404 if done.state == "invalid" else 200
    return HTMLResponse(pages.message_page(title, done.organization_name, message), status, headers=_PRIVATE)


@router.get("/f/{key}")
async def form_page(key: str, database: DB) -> HTMLResponse:
    loaded = await run_in_threadpool(_load, database, key)
    if loaded is None:
        return _not_found()
    form, organization = loaded
    return HTMLResponse(
        pages.form_page(get_settings(), form, organization, utcnow()), headers={"Cache-Control": "no-store"}
    )


@router.get("/f/{key}/thanks")
async def thanks(key: str, database: DB) -> HTMLResponse:
    loaded = await run_in_threadpool(_load, database, key)
    if loaded is None:
        return _not_found()
    form, organization = loaded
    if form.double_opt_in:
        message = "Almost done: we sent you an email. Open the link in it to confirm your subscription."
    else:
        message = "Thank you, you're subscribed."
    return HTMLResponse(pages.message_page(form.name, organization, message))


@router.post("/f/{key}")
async def submit(key: str, request: Request, database: DB) -> Response:
    posted = await request.form(max_files=0, max_fields=30)
    value = {
        name: str(posted.get(name) or "")[:2000]
        for name in ("email", "phone", "first_name", "last_name", "birthday", "t")
    }
    data = service.Submission(
        email=value["email"],
        phone=value["phone"],
        first_name=value["first_name"],
        last_name=value["last_name"],
        birthday=value["birthday"],
        sms_opt_in=bool(posted.get("sms_opt_in")),
        honeypot=str(posted.get(HONEYPOT) or ""),
        stamp=value["t"],
    )
    settings = get_settings()
    try:
        await run_in_threadpool(service.submit, database, settings, key, data, _info(request))
    except NotFound:
        return _not_found()
    except service.RateLimited as limited:
        markup = pages.message_page(
            "Too many sign-ups", "", "Too many sign-ups just now; try again in a minute.", ok=False
        )
        return HTMLResponse(markup, 429, headers={"Retry-After": str(limited.retry_after)})
    except InvalidInput as error:
        loaded = await run_in_threadpool(_load, database, key)
        if loaded is None:
            return _not_found()
        form, organization = loaded
        values = {**value, "sms_opt_in": data.sms_opt_in}
        markup = pages.form_page(
            settings, form, organization, utcnow(), values=values, error=error.message, stamp=data.stamp or None
        )
        return HTMLResponse(markup, 400)
    return RedirectResponse(f"/f/{key}/thanks", status_code=303)
