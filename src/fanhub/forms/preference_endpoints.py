"""The public preference-center pages: `GET /p/<token>` shows, `POST /p/<token>` saves.

The signed token (`campaigns.tokens.preference_token`) is the only authority, as for the
unsubscribe link: no login and no cookie, so the page works from any mail client, without
JavaScript. GET never changes anything (mail scanners fetch every link); a forged, altered or
stale token (a contact since deleted) gets the same plain 404 page. The rules live in
`forms.preferences`; this module parses the form and renders `templates/preferences.html`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import FormData

from fanhub.auth.dependencies import DB
from fanhub.campaigns import tokens
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import NotFound
from fanhub.forms.preferences import (
    Applied,
    PreferenceForm,
    Preferences,
    Requester,
    apply_preferences,
    int_set,
    read_preferences,
)

router = APIRouter()

_templates = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Personal pages: never cached by a proxy, never indexed, never leaking the token in a Referer.
_HEADERS = {
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_FORM_FIELDS_MAX = 500  # far above any real page (24 genres, a few dozen lists)


def _render(context: dict[str, Any], status: int = 200) -> HTMLResponse:
    markup = _templates.get_template("preferences.html").render(context)
    return HTMLResponse(markup, status_code=status, headers=_HEADERS)


def _not_found() -> HTMLResponse:
    return _render(
        {
            "title": "Link not found",
            "message": "This link is not valid. It may have been copied incompletely.",
            "prefs": None,
        },
        404,
    )


def _page(token: str, prefs: Preferences, notice: str | None = None) -> HTMLResponse:
    return _render({"title": "Your preferences", "prefs": prefs, "action": f"/p/{token}", "notice": notice})


def _load(database: Database, organization_id: int, contact_id: int) -> Preferences | None:
    try:
        with database.read() as session:
            return read_preferences(session, organization_id, contact_id)
    except NotFound:
        return None


@router.get("/p/{token}", include_in_schema=False)
def preferences_page(token: str, database: DB) -> Response:
    """The person's page; reads only."""
    parsed = tokens.read_preference_token(token)
    prefs = _load(database, *parsed) if parsed is not None else None
    if prefs is None:
        return _not_found()
    return _page(token, prefs)


def _channel(form: FormData, channel: str) -> bool | None:
    """The person's choice for a channel: None unless the box differs from the state the page showed."""
    was = form.get(f"{channel}_was")
    if was not in ("0", "1"):
        return None  # the page did not show this channel
    ticked = form.get(channel) == "1"
    return ticked if ticked != (was == "1") else None


def parse_form(form: FormData) -> PreferenceForm:
    def values(name: str) -> list[str]:
        return [str(v) for v in form.getlist(name)][:_FORM_FIELDS_MAX]

    return PreferenceForm(
        email=_channel(form, "email"),
        sms=_channel(form, "sms"),
        shown_lists=int_set(values("list_shown")),
        lists=int_set(values("list")),
        shown_genres=frozenset(v[:60] for v in values("genre_shown")),
        genres=frozenset(v[:60] for v in values("genre")),
        unsubscribe_all=form.get("action") == "unsubscribe_all",
    )


def _notice(applied: Applied, unsubscribe_all: bool) -> str:
    if unsubscribe_all:
        return "You are unsubscribed from everything: no more marketing emails or text messages."
    if not applied.changed:
        return "Nothing to change: your preferences are as you left them."
    return "Your preferences are saved."


def _save(
    database: Database, organization_id: int, contact_id: int, form: PreferenceForm, requester: Requester
) -> tuple[Applied, Preferences]:
    with database.write() as session:
        applied = apply_preferences(session, organization_id, contact_id, form, utcnow(), requester)
        return applied, read_preferences(session, organization_id, contact_id)


@router.post("/p/{token}", include_in_schema=False)
async def preferences_save(token: str, request: Request, database: DB) -> Response:
    """Apply the posted choices. No CSRF token: the signed URL is the authority (a third party
    who knows it could as well open the page), and a save only records the person's choices."""
    parsed = tokens.read_preference_token(token)
    if parsed is None:
        return _not_found()
    form = parse_form(await request.form())
    requester = Requester(request.client.host if request.client else None, request.headers.get("user-agent"))
    try:
        applied, prefs = await run_in_threadpool(_save, database, parsed[0], parsed[1], form, requester)
    except NotFound:
        return _not_found()
    return _page(token, prefs, _notice(applied, form.unsubscribe_all))
