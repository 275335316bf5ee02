"""MCP over Streamable HTTP at `/mcp` in the `fanhub serve` app, authenticated by bearer tokens.

`Authorization: Bearer <token>` must carry a live key with the `mcp:read` (or `mcp:write`) scope.
Missing, unknown or revoked tokens get 401; a live key without an MCP scope (a Partners API key)
gets 403. Both carry a complete `WWW-Authenticate: Bearer` challenge (RFC 6750) whose
`resource_metadata` points at this server's OAuth 2.0 Protected Resource Metadata (RFC 9728, as the
MCP authorization spec asks), served at `/.well-known/oauth-protected-resource/mcp` and at
`/.well-known/oauth-protected-resource`. fanhub has no OAuth authorization server (keys are made
with `fanhub key create`), so the document lists none (`authorization_servers` is optional in RFC
9728): it names the resource, its scopes and that tokens go in the Authorization header, and says
how to get one. The key's organization scopes every answer: the authenticated `Actor` is put into the
ASGI scope, where the tools served by `fanhub.mcp.server` read it on every request, so revoking a key
takes effect on its next request.

The server runs in stateless mode (every POST stands alone), so it works behind several
`fanhub serve --workers` processes without sticky sessions. `app.py` runs `lifespan(app)` in its
own lifespan: it builds this app's MCP server and its session manager.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fanhub.auth.actor import Actor
from fanhub.auth.service import MCP_READ_SCOPE, MCP_WRITE_SCOPE, authenticate, key_exists_with_other_scope, touch_key
from fanhub.db.engine import Database
from fanhub.mcp.server import ACTOR_SCOPE_KEY, build_server

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource"
KEY_HINT = "create one with: fanhub key create --org ORG_ID --partner NAME --scope mcp:read (or mcp:write)"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _origin(scope: Scope) -> str:
    """`scheme://host[:port]` as the client addressed this server (its Host header, when well formed)."""
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    host = next((v.decode("latin-1") for k, v in scope.get("headers") or [] if k.lower() == b"host"), "")
    if not _HOST.match(host):
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"


def metadata_url(scope: Scope) -> str:
    """Where the protected resource metadata of `/mcp` is (RFC 9728 section 3.1: the well-known path,
    then the resource's path)."""
    return f"{_origin(scope)}{METADATA_PATH}{MCP_PATH}"


def _quoted(text: str) -> str:
    """Text allowed inside an RFC 6750 quoted parameter: printable ASCII without `"` and `\\`."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "'" if c == '"' else "" for c in text)


def challenge(scope: Scope, error: str, description: str) -> str:
    """A complete `WWW-Authenticate` value: the error, its whole description, the scope, and the metadata."""
    return (
        f'Bearer error="{error}", error_description="{_quoted(description)}", '
        f'scope="{MCP_READ_SCOPE}", resource_metadata="{metadata_url(scope)}"'
    )


def resource_metadata(request: Request) -> JSONResponse:
    """RFC 9728 protected resource metadata of `/mcp` (both well-known paths serve it)."""
    origin = _origin(request.scope)
    document = {
        "resource": f"{origin}{MCP_PATH}",
        "resource_name": "fanhub MCP server",
        "scopes_supported": [MCP_READ_SCOPE, MCP_WRITE_SCOPE],
        "bearer_methods_supported": ["header"],
        "fanhub_token_help": f"Send Authorization: Bearer <token> with an MCP key; {KEY_HINT}.",
    }
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*", "Vary": "Host"}
    return JSONResponse(document, headers=headers)


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
            await _reply(send, 401, message, challenge(scope, "invalid_token", message))
            return
        checked = await anyio.to_thread.run_sync(_check, state.database, token)
        if checked == 401:
            message = "unknown or revoked token"
            await _reply(send, 401, message, challenge(scope, "invalid_token", f"{message}; {KEY_HINT}"))
            return
        if checked == 403:
            message = (
                "this key has no MCP scope (a Partners API key does not open /mcp); "
                f"/mcp needs a key with the mcp:read or mcp:write scope; {KEY_HINT}"
            )
            await _reply(send, 403, message, challenge(scope, "insufficient_scope", message))
            return
        assert isinstance(checked, Actor)
        scope[ACTOR_SCOPE_KEY] = checked
        await manager.handle_request(scope, receive, send)


router = APIRouter()
# A plain Starlette route: its endpoint is an ASGI app, served for every method (POST, GET, DELETE).
router.routes.append(Route(MCP_PATH, endpoint=McpEndpoint(), include_in_schema=False))
for _path in (METADATA_PATH + MCP_PATH, METADATA_PATH):
    router.routes.append(Route(_path, resource_metadata, methods=["GET"], include_in_schema=False))


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
