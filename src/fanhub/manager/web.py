"""Plumbing shared by every manager page: templates, sessions, CSRF, roles, and HTML error pages.

Pages are registered with `page()` (GET, a sync function run in the thread pool) and `action()`
(POST: the form is read, the CSRF token and the role are checked, then a sync function runs in the
thread pool). Both receive the signed-in `SessionInfo`. Path and query values are parsed by hand so
that nothing a user types turns into a 422 or a 500: bad ids are 404, bad values re-render the form.

Cookies: `fanhub_session` holds the server-side session token (HttpOnly, SameSite=Lax, path
/manager, and `Secure` when `FANHUB_PUBLIC_URL` is https, so plain-http localhost still works);
`fanhub_csrf` is a double-submit token for the forms shown before sign-in (login, setup).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from fanhub.auth.actor import Actor
from fanhub.auth.users import VIEWER, SessionInfo, load_session, touch_session
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

SESSION_COOKIE = "fanhub_session"
CSRF_COOKIE = "fanhub_csrf"
COOKIE_PATH = "/manager"
PREFIX = "/manager"
_TEMPLATES = Path(__file__).parent / "templates"


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    pass


class CsrfFailed(Exception):
    pass


def _fmt_dt(value: Any, zone: str | None = None, with_time: bool = True) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(ZoneInfo(zone or "UTC"))
    except Exception:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _fmt_int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value or 0)


def _fmt_money(value: Any, currency: str | None = None) -> str:
    try:
        amount = float(value or 0)
    except (TypeError, ValueError):
        return str(value)
    return f"{amount:,.2f} {currency or ''}".strip()


templates = Environment(loader=FileSystemLoader(str(_TEMPLATES)), autoescape=True, trim_blocks=True, lstrip_blocks=True)
templates.filters["dt"] = _fmt_dt
templates.filters["num"] = _fmt_int
templates.filters["money"] = _fmt_money
templates.globals["urlencode"] = lambda params: urlencode({k: v for k, v in params.items() if v not in (None, "")})


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def secure_cookies(request: Request) -> bool:
    return settings(request).public_url.lower().startswith("https://")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def html(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    user: SessionInfo | None = None,
    status: int = 200,
    zone: str | None = None,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf": user.csrf_token if user else request.cookies.get(CSRF_COOKIE, ""),
        "path": request.url.path,
        "zone": zone or "UTC",
        "notice": request.query_params.get("notice", "")[:300],
    }
    if user is not None and user.organization_id is not None:
        values["org_name"] = next((n for i, n, _ in user.organizations if i == user.organization_id), "")
    values.update(context or {})
    body = templates.get_template(template).render(**values)
    response = HTMLResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return response


def redirect(url: str, notice: str | None = None) -> RedirectResponse:
    if notice:
        url += ("&" if "?" in url else "?") + "notice=" + quote(notice)
    return RedirectResponse(url, status_code=303)


def anonymous_token(request: Request) -> str:
    """The visitor's pre-sign-in double-submit CSRF token (a new one when the cookie is missing)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_anonymous_cookie(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure_cookies(request)
        )


def check_anonymous_csrf(request: Request, form: FormData) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get("csrf_token") or "")
    if not cookie or not hmac.compare_digest(cookie, sent):
        raise CsrfFailed()


def current_user(request: Request) -> SessionInfo | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    db = database(request)
    with db.read() as session:
        loaded = load_session(session, token)
    if loaded is None:
        return None
    info, stale = loaded
    if stale:
        with db.write() as session:
            touch_session(session, token)
    return info


@dataclass(frozen=True)
class Staff(SessionInfo):
    """A signed-in user acting in one organization with a role there: what every manager page gets."""

    organization_id: int
    role: str

    @property
    def actor(self) -> Actor:
        return Actor.staff(self.organization_id, self.user_id, self.role)


def require(request: Request, role: str) -> Staff:
    """The signed-in staff of the current organization with at least `role` (or the page that says why not)."""
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    if user.organization_id is None or user.role is None:
        raise Forbidden("You do not belong to any organization yet; ask an admin to add you.")
    if not user.can(role):
        raise Forbidden(f"This needs the {role} role; you are {user.role}.")
    return Staff(**{f.name: getattr(user, f.name) for f in fields(SessionInfo)})


def org_zone(request: Request, organization_id: int) -> str:
    from fanhub.organizations.service import get_organization

    with database(request).read() as session:
        return get_organization(session, organization_id).time_zone or "UTC"


def path_int(request: Request, name: str) -> int:
    try:
        value = int(str(request.path_params.get(name, "")))
    except ValueError:
        raise NotFound(f"{name} not found") from None
    if value < 1 or value > 2**62:
        raise NotFound(f"{name} not found")
    return value


def query_int(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if 0 <= value <= 2**62 else default


def form_ints(form: FormData, name: str) -> list[int]:
    out: list[int] = []
    for raw in form.getlist(name):
        try:
            value = int(str(raw))
        except ValueError:
            continue
        if 0 < value < 2**62:
            out.append(value)
    return out


def form_str(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return str(value).strip()[:limit] if isinstance(value, str) else ""


def field_errors(exc: InvalidInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in exc.errors:
        errors.setdefault(str(item.get("field") or "_"), str(item.get("message") or exc.message))
    if not errors:
        errors["_"] = exc.message
    return errors


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    user = None
    try:
        user = current_user(request)
    except Exception:
        user = None
    return html(request, "error.html", {"title": title, "message": message}, user=user, status=status)


class ManagerRoute(APIRoute):
    """Turns every failure of a manager page into an HTML page (never a JSON error or a bare 500)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=303)
            except NotFound:
                return _error_page(request, 404, "Not found", "There is nothing here, or it belongs elsewhere.")
            except Forbidden as exc:
                return _error_page(request, 403, "Not allowed", str(exc) or "You may not do this.")
            except CsrfFailed:
                return _error_page(
                    request, 403, "Form expired", "This form was not sent from your session. Reload the page and retry."
                )
            except InvalidInput as exc:
                return _error_page(request, 400, "Cannot do that", exc.message)
            except RequestValidationError:
                return _error_page(request, 400, "Bad request", "Some values in the address are not valid.")
            except StarletteHTTPException as exc:
                if exc.status_code == 404:
                    return _error_page(request, 404, "Not found", "There is nothing here.")
                return _error_page(request, exc.status_code, "Error", str(exc.detail))
            except Exception:
                log.exception("manager page failed: %s", request.url.path)
                return _error_page(request, 500, "Something went wrong", "The error was logged; nothing was changed.")

        return handler


def new_router() -> APIRouter:
    return APIRouter(prefix=PREFIX, route_class=ManagerRoute, include_in_schema=False)


PageFn = Callable[[Request, Staff], Response]
ActionFn = Callable[[Request, Staff, FormData], Response]


def page(router: APIRouter, path: str, role: str = VIEWER) -> Callable[[PageFn], PageFn]:
    """Register a signed-in GET page needing `role`."""

    def register(fn: PageFn) -> PageFn:
        def endpoint(request: Request) -> Response:
            return fn(request, require(request, role))

        endpoint.__name__ = fn.__name__
        router.add_api_route(path, endpoint, methods=["GET"])
        return fn

    return register


def action(router: APIRouter, path: str, role: str = VIEWER) -> Callable[[ActionFn], ActionFn]:
    """Register a signed-in POST action needing `role`; the session's CSRF token must come with it."""

    def register(fn: ActionFn) -> ActionFn:
        async def endpoint(request: Request) -> Response:
            try:
                form = await request.form(max_files=2, max_fields=5000)
            except Exception:
                raise InvalidInput("the form could not be read") from None
            return await run_in_threadpool(_checked, request, form)

        def _checked(request: Request, form: FormData) -> Response:
            user = current_user(request)
            if user is None:
                raise LoginRequired()
            sent = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
            if not hmac.compare_digest(sent, user.csrf_token):
                raise CsrfFailed()
            return fn(request, require(request, role), form)

        endpoint.__name__ = fn.__name__
        router.add_api_route(path, endpoint, methods=["POST"])
        return fn

    return register


def svg(markup: str) -> Markup:
    return Markup(markup)
