"""The API's error body (every HTTP front door's 4xx has this shape), and 405 Method Not Allowed
with the `Allow` header RFC 9110 (§15.5.6) requires.

Starlette raises the 405 from the first route whose path matches and names only that route's
methods; a path served by several routes (`GET` and `POST /v1/partners/events`) would advertise
half of them, and the API's HTTPException handler dropped the header altogether.
`method_not_allowed` lists the methods every route on the path serves, in the API's error format.
`app.py` registers it for status 405.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match


class ErrorItem(BaseModel):
    index: int | None = Field(description="Position of the offending item in the request's list, if any.")
    field: str | None = Field(description="Path of the offending field, e.g. orders[3].customer.email.")
    message: str


class ErrorResponse(BaseModel):
    code: int = Field(description="Non-zero; equals the HTTP status.")
    message: str
    errors: list[ErrorItem] = []


BODY_TOO_LARGE = {"model": ErrorResponse, "description": "Body larger than the limit (5 MB by default)."}

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route fully matches at the request's path (asked of each route, so routers
    included in others, however FastAPI keeps them, answer too); HEAD only where it is served."""
    methods: list[str] = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.append(method)
    return methods


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    methods = allowed_methods(request)
    if not methods and isinstance(exc, HTTPException) and exc.headers:
        methods = [m.strip() for m in exc.headers.get("Allow", "").split(",") if m.strip()]
    return JSONResponse(
        {"code": 405, "message": f"method {request.method} is not allowed here"},
        status_code=405,
        headers={"Allow": ", ".join(methods)},
    )
