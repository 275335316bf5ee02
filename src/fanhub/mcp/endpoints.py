"""MCP over Streamable HTTP at `/mcp` in the `fanhub serve` app, authenticated by bearer tokens.

`Authorization: Bearer <token>` must carry a live key with the `mcp:read` (or `mcp:write`) scope.
Missing, unknown or revoked tokens get 401; a live key without an MCP scope (a Partners API key)
gets 403. The key's organization scopes every answer: the authenticated `Actor` is put into the
ASGI scope, where the tools served by `fanhub.mcp.server` read it on every request, so revoking a key
takes effect on its next request.

The server runs in stateless mode (every POST stands alone), so it works behind several
`fanhub serve --workers` processes without sticky sessions. `app.py` runs `lifespan(app)` in its
own lifespan: it builds this app's MCP server and its session manager.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from fanhub.auth.actor import Actor
from fanhub.auth.service import MCP_READ_SCOPE, authenticate, key_exists_with_other_scope, touch_key
from fanhub.db.engine import Database
from fanhub.mcp.server import ACTOR_SCOPE_KEY, build_server

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

MCP_PATH = "/mcp"
KEY_HINT = "create one with: fanhub key create --org ORG_ID --partner NAME --scope mcp:read (or mcp:write)"


async def _reply(send: Any, status: int, message: str, www_authenticate: str | None = None) -> None:
    body = json.dumps({"code": status, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if www_authenticate:
        headers.append((b"www-authenticate", www_authenticate.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _bearer(scope: Scope) -> tuple[bool, str | None]:
    """(header present, token); the token is None when the header is missing or not a bearer token."""
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            text = value.decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return True, token.strip()
            return True, None
    return False, None


def _check(database: Database, token: str) -> Actor | int:
    """The actor for a token, or the HTTP status refusing it (401 unknown/revoked, 403 wrong scope)."""
    with database.read() as session:
        principal = authenticate(session, token, MCP_READ_SCOPE)
        if principal is None:
            return 403 if key_exists_with_other_scope(session, token) else 401
    if principal.last_used_is_stale:
        with database.write() as session:
            touch_key(session, principal.key_id)
    return Actor.mcp(principal.organization_id, principal.key_id, principal.scopes)


class McpEndpoint:
    """The ASGI endpoint at /mcp: bearer authentication, then the SDK's Streamable HTTP handler."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        state = scope["app"].state
        manager: StreamableHTTPSessionManager | None = getattr(state, "mcp_session_manager", None)
        if manager is None:
            await _reply(send, 503, "the MCP server is not running (the app's lifespan has not started)")
            return
        present, token = _bearer(scope)
        if token is None:
            message = (
                "the Authorization header must be 'Bearer <token>'"
                if present
                else f"missing 'Authorization: Bearer <token>' header with an MCP token; {KEY_HINT}"
            )
            await _reply(send, 401, message, f'Bearer error="invalid_token", error_description="{message[:60]}"')
            return
        checked = await anyio.to_thread.run_sync(_check, state.database, token)
        if checked == 401:
            message = "unknown or revoked token"
            await _reply(send, 401, message, f'Bearer error="invalid_token", error_description="{message}"')
            return
        if checked == 403:
            message = (
                "this key has no MCP scope (a Partners API key does not open /mcp); "
                f"/mcp needs a key with the mcp:read or mcp:write scope; {KEY_HINT}"
            )
            await _reply(send, 403, message, f'Bearer error="insufficient_scope", scope="{MCP_READ_SCOPE}"')
            return
        assert isinstance(checked, Actor)
        scope[ACTOR_SCOPE_KEY] = checked
        await manager.handle_request(scope, receive, send)


router = APIRouter()
# A plain Starlette route: its endpoint is an ASGI app, served for every method (POST, GET, DELETE).
router.routes.append(Route(MCP_PATH, endpoint=McpEndpoint(), include_in_schema=False))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build this app's MCP server over its database and run the SDK's session manager."""
    server = build_server(app.state.database)
    # Builds the session manager; the Starlette app it returns is not used (our endpoint authenticates).
    server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        # Every request needs a bearer token, which a DNS-rebinding page cannot obtain; hosts are
        # whatever `fanhub serve --host` is reached by.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager
    async with manager.run():
        app.state.mcp_session_manager = manager
        try:
            yield
        finally:
            app.state.mcp_session_manager = None
