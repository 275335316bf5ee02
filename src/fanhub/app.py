"""The HTTP application: routers, error format, body limit, health, and the in-process worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from fanhub import __version__
from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database, get_database
from fanhub.errors import InvalidInput, NotFound, UnsupportedMediaType
from fanhub.http_errors import method_not_allowed
from fanhub.ingest.records import locate
from fanhub.ingest.service import backlog
from fanhub.partners.validation import ValidationPool
from fanhub.wiring import connect_domains
from fanhub.worker import RequestLoad, Worker

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": status, "message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


def field_path(loc: tuple[Any, ...]) -> tuple[int | None, str]:
    """('body', 'orders', 3, 'customer') -> (3, 'orders[3].customer'); pydantic's type tags are dropped."""
    parts = [p for p in loc if not (isinstance(p, str) and ("[" in p or "(" in p))]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    index: int | None = None
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
            if index is None:
                index = part
        else:
            path += ("." if path else "") + str(part)
    return index, path


class BodyLimit:
    """Rejects request bodies over the limit with 413 before they are read into memory; defaults to JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if b"content-type" not in headers and scope.get("method") in ("POST", "PUT", "PATCH"):
            # The Partners API speaks only JSON; a client that forgets the header still means JSON.
            scope["headers"] = [*scope.get("headers", []), (b"content-type", b"application/json")]
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error(413, f"request body is larger than the limit of {self.max_bytes} bytes")
        await response(scope, receive, send)


def _prime_routing(app: FastAPI) -> None:
    """Build the routing tables now rather than on the first requests.

    FastAPI sets up an included router's routes (dependencies, fields) the first time a request is
    matched against them, under a lock that every concurrent first request waits on: a server's first
    burst of accepts took ~150 ms instead of ~90. Matching a path that no route serves visits them all.
    """
    scope: Scope = {"type": "http", "method": "GET", "path": "/.fanhub-prime-routing", "root_path": "", "headers": []}
    for route in app.router.routes:
        route.matches(scope)


# Connections opened at startup: about the threads that serve requests at once under load.
WARM_CONNECTIONS = 8
VALIDATION_START_SECONDS = 10.0


class _TooLarge(Exception):
    pass


class CountRequests:
    """Keeps `RequestLoad` up to date for the in-process worker: requests that may write (accepts).

    Reads are left out: they are quick or, like an MCP client's event stream, open for as long as the
    client stays connected, which would hold the worker back for all that time.
    """

    def __init__(self, app: ASGIApp, load: RequestLoad) -> None:
        self.app = app
        self.load = load

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        self.load.started()
        try:
            await self.app(scope, receive, send)
        finally:
            self.load.finished()


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, run_worker: bool | None = None
) -> FastAPI:
    settings = settings or get_settings()
    database = database or get_database(settings)
    run_worker = settings.worker_in_process if run_worker is None else run_worker
    connect_domains()
    load = RequestLoad()
    app = FastAPI(
        title="fanhub",
        version=__version__,
        description="Cymbal-compatible Partners API, ingest status and read endpoints of fanhub.",
        lifespan=_lifespan(settings, database, load, run_worker),
    )
    app.state.database = database
    app.state.settings = settings
    app.state.worker = None
    app.state.validation = ValidationPool(settings.validation_process_count())
    _add_error_handlers(app)
    _add_health_route(app, database)

    from fanhub.partners.endpoints import router as partners_router

    app.include_router(partners_router)
    for extra in _domain_routers():
        app.include_router(extra)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # type: ignore[arg-type]
    if run_worker:
        app.add_middleware(CountRequests, load=load)  # type: ignore[arg-type]
        # Write requests in flight (accepts) are about to take the write lock: the worker commits after each batch.
        database.expect_writers(lambda: load.busy)
    _document_request_bodies(app)
    return app


def _lifespan(
    settings: Settings, database: Database, load: RequestLoad, run_worker: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up and shut-down: the validation helpers, warm connections, routing, the worker, domain lifespans."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = (
            Worker(
                database,
                settings.worker_poll_seconds,
                load=load,
                busy_defer_seconds=settings.worker_busy_defer_seconds,
                busy_share=settings.worker_busy_share,
            )
            if run_worker
            else None
        )
        app.state.worker = worker
        validation = app.state.validation
        validation.start()
        database.warm_up(WARM_CONNECTIONS)
        # Serving before the helpers are warm would let their start-up (imports, ~1 s of CPU each)
        # compete with the first requests; a pool that does not come up is not waited for forever.
        await asyncio.to_thread(validation.wait_ready, VALIDATION_START_SECONDS)
        _prime_routing(app)
        if worker is not None:
            worker.start_thread()
        try:
            async with AsyncExitStack() as stack:
                # Domains with a long-lived ASGI part (the MCP session manager) run it here.
                for module_lifespan in _domain_lifespans():
                    await stack.enter_async_context(module_lifespan(app))
                yield
        finally:
            validation.close()
            if worker is not None:
                worker.stop()

    return lifespan


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers in the API's error body: {"code", "message", "errors"?}."""
    app.add_exception_handler(405, method_not_allowed)  # with `Allow`, ahead of the HTTPException handler
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(InvalidInput)(_invalid_input)
    app.exception_handler(UnsupportedMediaType)(_unsupported_media_type)
    app.exception_handler(NotFound)(_not_found)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(Exception)(_unexpected_error)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """400 for a body that is not JSON; 422 listing every invalid field, summarised by the first."""
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        detail = next(e for e in raw if e.get("type") == "json_invalid")
        return _error(400, f"malformed JSON: {detail.get('ctx', {}).get('error', 'cannot parse body')}")
    errors: list[dict[str, Any]] = []
    for e in raw:
        loc, message = locate(e)
        index, path = field_path(loc)
        if e.get("type") == "missing" and not path:
            path, message = "body", "a JSON body is required"
        errors.append({"index": index, "field": path or None, "message": message})
    first = errors[0]
    summary = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    if len(errors) > 1:
        summary += f" (and {len(errors) - 1} more)"
    return _error(422, summary + "; nothing was queued" if exc.body is not None else summary, errors)


async def _invalid_input(_: Request, exc: InvalidInput) -> JSONResponse:
    return _error(422, exc.message, exc.errors)


async def _unsupported_media_type(_: Request, exc: UnsupportedMediaType) -> JSONResponse:
    return _error(415, exc.message, exc.errors)


async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
    return _error(404, str(exc))


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return _error(exc.status_code, str(exc.detail))


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return _error(500, "internal error; the request was not applied")


def _add_health_route(app: FastAPI, database: Database) -> None:
    """GET /healthz: whether the database answers, and how much ingest is waiting to be applied."""

    @app.get("/healthz", tags=["Operations"], summary="Health and ingest backlog")
    def healthz() -> JSONResponse:
        try:
            with database.read() as session:
                session.execute(text("SELECT 1"))
                queue = backlog(session)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable", "error": str(exc)[:200]}, status_code=503
            )
        oldest: datetime | None = queue.oldest_received_at
        return JSONResponse(
            {
                "status": "ok",
                "database": "reachable",
                "backlog": {
                    "queued_batches": queue.queued,
                    "oldest_age_seconds": round((utcnow() - oldest).total_seconds(), 3) if oldest else 0.0,
                },
            }
        )


def _document_request_bodies(app: FastAPI) -> None:
    """Add the Partners API request schemas (validated from the raw body) to the OpenAPI components."""
    from fastapi.openapi.utils import get_openapi

    from fanhub.partners.schemas import openapi_request_schemas

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(openapi_request_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _domain_routers() -> list[Any]:
    """Every router besides the Partners API, named here so what the app serves is visible in one place."""
    from fanhub.campaigns.endpoints import router as tracking_router
    from fanhub.connectors.endpoints import router as webhooks_router
    from fanhub.deliverability.endpoints import router as deliverability_router
    from fanhub.forms.endpoints import router as forms_router
    from fanhub.forms.preference_endpoints import router as preferences_router
    from fanhub.manager.endpoints import router as manager_router
    from fanhub.mcp.endpoints import router as mcp_router

    return [
        webhooks_router,
        deliverability_router,
        tracking_router,
        forms_router,
        preferences_router,
        manager_router,
        mcp_router,
    ]


def _domain_lifespans() -> list[Callable[[FastAPI], AbstractAsyncContextManager[Any]]]:
    """Long-lived ASGI parts run inside the app's lifespan (the MCP session manager)."""
    from fanhub.mcp.endpoints import lifespan as mcp_lifespan

    return [mcp_lifespan]
