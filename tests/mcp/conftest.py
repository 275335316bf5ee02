"""MCP test fixtures: seeded data, a `fanhub serve`-equivalent app on a real 127.0.0.1 port, SDK clients."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from tests.mcp.seed import Seeded, seed

from fanhub.config import Settings
from fanhub.db.engine import Database
from mcp import Client, StdioServerParameters


@pytest.fixture
def seeded(client: TestClient, db: Database) -> Seeded:
    return seed(client, db)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def http_server(_database: Database) -> Iterator[str]:
    """The real app (as `fanhub serve` builds it) served by uvicorn on 127.0.0.1 in a thread; stops itself."""
    from fanhub.app import create_app
    from fanhub.config import get_settings

    settings: Settings = get_settings()
    app = create_app(settings, database=_database, run_worker=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="mcp-test-uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200 and server.started:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    else:
        raise RuntimeError("test server did not start")
    yield base
    server.should_exit = True
    thread.join(timeout=10)


def http_client(base: str, token: str) -> Client:
    """The SDK's own client over Streamable HTTP with a bearer token."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(f"{base}/mcp", http_client=http))


def stdio_client(org: int, *extra: str) -> Client:
    """The SDK's own client running a real `fanhub mcp --org N` subprocess."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("FANHUB_", "PATH", "HOME", "PYTHON", "VIRTUAL_ENV"))}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "fanhub", "mcp", "--org", str(org), *extra], env=env
    )
    return Client(params)
