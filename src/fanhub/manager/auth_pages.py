"""Sign-in, sign-out, first-admin setup, organization switching and the vendored static files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from starlette.datastructures import FormData

from fanhub.auth.users import (
    TooManyAttempts,
    authenticate_user,
    complete_setup,
    count_users,
    end_session,
    setup_token_valid,
    start_session,
    switch_organization,
)
from fanhub.errors import InvalidInput, NotFound
from fanhub.manager.web import (
    COOKIE_PATH,
    SESSION_COOKIE,
    Staff,
    action,
    anonymous_token,
    check_anonymous_csrf,
    client_address,
    current_user,
    database,
    field_errors,
    form_ints,
    form_str,
    html,
    redirect,
    secure_cookies,
    set_anonymous_cookie,
)
from fanhub.organizations.models import Organization

router = APIRouter()
_STATIC = Path(__file__).parent / "static"
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png"}


def register(router: APIRouter) -> None:
    router.add_api_route("/static/{name}", static_file, methods=["GET"])
    router.add_api_route("/login", login_form, methods=["GET"])
    router.add_api_route("/login", login_submit, methods=["POST"])
    router.add_api_route("/setup", setup_form, methods=["GET"])
    router.add_api_route("/setup", setup_submit, methods=["POST"])
    action(router, "/logout")(logout)
    action(router, "/switch-org")(switch_org)


def static_file(name: str) -> Response:
    path = _STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in _STATIC_TYPES or not path.is_file():
        raise NotFound(name)
    return FileResponse(path, media_type=_STATIC_TYPES[path.suffix], headers={"Cache-Control": "public, max-age=3600"})


def _safe_next(value: str) -> str:
    """Only local manager paths: never an open redirect."""
    parts = urlsplit(value)
    if value.startswith("/manager") and not parts.scheme and not parts.netloc and "\\" not in value:
        return value
    return "/manager/"


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        max_age=7 * 24 * 3600,
    )


def login_form(request: Request) -> Response:
    if current_user(request) is not None:
        return redirect("/manager/")
    with database(request).read() as session:
        if count_users(session) == 0:
            response = html(
                request,
                "error.html",
                {
                    "title": "fanhub is not set up yet",
                    "message": "No user exists yet. Open the one-time setup link that `fanhub serve` printed, "
                    "or create a user with `fanhub user create --org ORG_ID --email you@example.com --role admin`.",
                },
            )
            return response
    next_url = _safe_next(request.query_params.get("next", "/manager/"))
    token = anonymous_token(request)
    response = html(request, "login.html", {"next": next_url, "email": "", "error": None, "csrf": token})
    set_anonymous_cookie(request, response, token)
    return response


async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: FormData) -> Response:
    check_anonymous_csrf(request, form)
    email = form_str(form, "email", 320)
    password = str(form.get("password") or "")[:1000]
    next_url = _safe_next(form_str(form, "next", 2000) or "/manager/")
    error: str | None = None
    status = 401
    with database(request).write() as session:
        try:
            user = authenticate_user(session, email, password, client_address(request))
        except TooManyAttempts as exc:
            user, error, status = None, f"Too many failed sign-ins. Try again in {exc.wait_seconds} seconds.", 429
        token = start_session(session, user.id) if user is not None else None
    if token is None:
        return html(
            request,
            "login.html",
            {"next": next_url, "email": email, "error": error or "Wrong email or password."},
            status=status,
        )
    response = redirect(next_url)
    _set_session_cookie(request, response, token)
    return response


def logout(request: Request, user: Staff, form: FormData) -> Response:
    with database(request).write() as session:
        end_session(session, request.cookies.get(SESSION_COOKIE))
    response = redirect("/manager/login", "You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def switch_org(request: Request, user: Staff, form: FormData) -> Response:
    ids = form_ints(form, "organization_id")
    if not ids:
        raise NotFound("organization")
    with database(request).write() as session:
        switch_organization(session, request.cookies.get(SESSION_COOKIE, ""), ids[0])
    return redirect("/manager/")


def _setup_context(request: Request, token: str) -> dict[str, object]:
    with database(request).read() as session:
        valid = setup_token_valid(session, token)
        needs_org = session.query(Organization.id).first() is None
    return {"valid": valid, "token": token, "needs_org": needs_org, "errors": {}, "email": "", "organization": ""}


def setup_form(request: Request) -> Response:
    token = request.query_params.get("token", "")[:200]
    context = _setup_context(request, token)
    csrf = anonymous_token(request)
    context["csrf"] = csrf
    response = html(request, "setup.html", context, status=200 if context["valid"] else 404)
    set_anonymous_cookie(request, response, csrf)
    return response


async def setup_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    return await run_in_threadpool(_setup, request, form)


def _setup(request: Request, form: FormData) -> Response:
    check_anonymous_csrf(request, form)
    token = form_str(form, "token", 200)
    email = form_str(form, "email", 320)
    organization = form_str(form, "organization", 200)
    password = str(form.get("password") or "")[:1000]
    context = _setup_context(request, token)
    context.update({"email": email, "organization": organization})
    if not context["valid"]:
        return html(request, "setup.html", context, status=404)
    if password != str(form.get("password2") or ""):
        context["errors"] = {"password2": "The passwords differ."}
        return html(request, "setup.html", context, status=400)
    try:
        with database(request).write() as session:
            user = complete_setup(session, token, email, password, organization)
            session_token = start_session(session, user.id)
    except InvalidInput as exc:
        context["errors"] = field_errors(exc)
        return html(request, "setup.html", context, status=400)
    response = redirect("/manager/", "Welcome! You are the administrator.")
    _set_session_cookie(request, response, session_token)
    return response
