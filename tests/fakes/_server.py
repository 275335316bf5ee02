"""Shared plumbing for the fakes: run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread.

``ServerThread`` binds its own socket on port 0 (so the OS picks a free port), hands it to
uvicorn, and waits until uvicorn reports it is serving.  The thread is a daemon, so it can never
outlive the test process even if a test forgets to call ``stop()``.

``FakeService`` is the base class of every fake: it owns a ``ServerThread``, exposes
``start()`` / ``stop()`` / ``with fake:`` and ``base_url``, and provides a small regex router
(``Route``) plus JSON helpers so each fake can control the exact order of checks (auth, rate
limit, fault injection) before a handler runs.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

__all__ = ["FakeService", "RecordingReceiver", "Route", "ServerThread", "json_response"]


class ServerThread:
    """Run ``app`` with uvicorn on ``host``:ephemeral port in a background daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Bind the socket, start uvicorn in a daemon thread and wait until it accepts requests."""
        if self.running:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit TCP_NODELAY on Linux: avoids ~40 ms Nagle/delayed-ACK stalls
        # on keep-alive connections (uvicorn writes headers and body separately).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server

        def _run() -> None:
            # A fresh event loop per thread; uvicorn skips signal handlers off the main thread.
            asyncio.run(server.serve(sockets=[sock]))

        thread = threading.Thread(target=_run, name=f"fake-server-{self.port}", daemon=True)
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("fake server thread died during startup")
            if time.monotonic() > deadline:
                raise TimeoutError("fake server did not start in time")
            time.sleep(0.005)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and join the thread (force-exit if it lingers)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialize ``body`` compactly (fast for big pages) and return a JSON response."""
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(raw, status_code=status, headers=headers, media_type="application/json")


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """A route of a fake: HTTP method, full-match regex on the path, handler(request, **groups)."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler

    @classmethod
    def make(cls, method: str, regex: str, handler: Handler) -> Route:
        return cls(method.upper(), re.compile(regex), handler)


class FakeService:
    """Base class: a fake HTTP service with a lifecycle and a tiny regex router.

    Subclasses implement ``_routes()`` and ``_dispatch(request, route, params)`` (the latter
    usually applies auth / rate limit / fault injection and then calls the handler).  All
    state access must hold ``self.lock`` because handlers run on the server thread while tests
    mutate data from the test thread.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._server = ServerThread(self._build_app())

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server.port is None:
            raise RuntimeError("fake server not started")
        return self._server.port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # -- routing ---------------------------------------------------------------------------
    def _routes(self) -> list[Route]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _dispatch(self, request: Request, route: Route | None, params: dict[str, str]) -> Response:
        raise NotImplementedError  # pragma: no cover - abstract

    def _build_app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            path = request.url.path
            method = request.method.upper()
            if method == "HEAD":
                method = "GET"
            match: Route | None = None
            params: dict[str, str] = {}
            for route in self._routes_cache:
                m = route.pattern.fullmatch(path)
                if m and route.method == method:
                    match, params = route, m.groupdict()
                    break
            if match is not None and method in {"POST", "PUT", "PATCH", "DELETE"}:
                # Read the body here (async) so sync handlers can use request.state.body.
                request.state.body = await request.body()
            else:
                request.state.body = b""
            with self.lock:
                return self._dispatch(request, match, params)

        self._routes_cache = self._routes()
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(
            routes=[
                StarletteRoute("/", endpoint, methods=methods),
                StarletteRoute("/{path:path}", endpoint, methods=methods),
            ]
        )


class RecordingReceiver:
    """A throwaway HTTP endpoint that records every request (for testing webhook senders).

    ``with RecordingReceiver(status=200) as rx: fake.deliver(rx.url + "/hook", ...)``; then inspect
    ``rx.requests`` – a list of ``(method, path, headers: dict[str, str], raw_body: bytes)``.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            self.requests.append((request.method, request.url.path, dict(request.headers), body))
            return Response(b"ok", status_code=self.status)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        app = Starlette(routes=[StarletteRoute("/{path:path}", endpoint, methods=methods)])
        self._server = ServerThread(app)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
