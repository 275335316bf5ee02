"""Issue 18 (MCP over HTTP): a refused request carries a complete `WWW-Authenticate` challenge pointing at
the RFC 9728 protected resource metadata, which the server serves; tokens see only the tools they may call."""

from __future__ import annotations

import re

import anyio
import httpx
from tests.mcp.conftest import http_client
from tests.mcp.scenario import READ_TOOLS, WRITE_TOOLS
from tests.mcp.seed import Seeded

from fanhub.mcp.endpoints import KEY_HINT

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _challenge(response: httpx.Response) -> dict[str, str]:
    """The auth-params of a `Bearer` challenge (RFC 6750 / RFC 9110 quoted strings)."""
    value = response.headers["www-authenticate"]
    assert value.startswith("Bearer "), value
    params = dict(re.findall(r'(\w+)="([^"\\]*)"', value))
    # Nothing but well-formed parameters: the whole header is accounted for.
    rebuilt = "Bearer " + ", ".join(f'{k}="{v}"' for k, v in params.items())
    assert rebuilt == value, value
    return params


def test_refusals_point_at_the_protected_resource_metadata(seeded: Seeded, http_server: str) -> None:
    url = f"{http_server}/mcp"
    metadata_url = f"{http_server}/.well-known/oauth-protected-resource/mcp"

    missing = httpx.post(url, json=INITIALIZE, headers=HEADERS, timeout=10)
    assert missing.status_code == 401
    params = _challenge(missing)
    # The whole hint, not cut off mid-word, and where to learn more.
    assert params["error"] == "invalid_token"
    assert params["error_description"] == missing.json()["message"]
    assert params["error_description"].endswith(KEY_HINT)
    assert params["resource_metadata"] == metadata_url and params["scope"] == "mcp:read"

    unknown = httpx.post(url, json=INITIALIZE, headers={**HEADERS, "Authorization": "Bearer fh_nope"}, timeout=10)
    assert unknown.status_code == 401
    assert _challenge(unknown)["error_description"] == f"unknown or revoked token; {KEY_HINT}"
    partner = httpx.post(
        url, json=INITIALIZE, headers={**HEADERS, "Authorization": f"Bearer {seeded.partner_token}"}, timeout=10
    )
    assert partner.status_code == 403
    refused = _challenge(partner)
    assert refused["error"] == "insufficient_scope" and refused["resource_metadata"] == metadata_url

    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        document = httpx.get(f"{http_server}{path}", timeout=10)
        assert document.status_code == 200, path
        assert document.headers["content-type"].startswith("application/json")
        assert document.headers["access-control-allow-origin"] == "*"
        body = document.json()
        # RFC 9728: `resource` is the URL the client used; no authorization server (keys come from the CLI).
        assert body["resource"] == url
        assert body["scopes_supported"] == ["mcp:read", "mcp:write"]
        assert body["bearer_methods_supported"] == ["header"]
        assert "authorization_servers" not in body and "fanhub key create" in body["fanhub_token_help"]

    # The metadata URL follows the Host the client used (a proxy's name), well-formed or not at all.
    proxied = httpx.get(metadata_url, headers={"Host": "mcp.example.org"}, timeout=10)
    assert proxied.json()["resource"] == "http://mcp.example.org/mcp"
    evil = httpx.post(url, json=INITIALIZE, headers={**HEADERS, "Host": 'x" , a="b'}, timeout=10)
    assert _challenge(evil)["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")


def test_each_token_lists_only_the_tools_it_may_call(seeded: Seeded, http_server: str) -> None:
    async def names(token: str) -> set[str]:
        async with http_client(http_server, token) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    async def main() -> None:
        assert await names(seeded.read_token) == READ_TOOLS
        assert await names(seeded.write_token) == READ_TOOLS | WRITE_TOOLS

    anyio.run(main)
