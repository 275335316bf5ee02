"""uvicorn's HTTP protocol with a deadline for receiving each request head.

uvicorn (0.54) has no such timeout: `timeout_keep_alive` only runs between a finished response and
the next byte, and every received byte cancels it, so a client that connects and sends nothing, or
trickles a request line a byte at a time, holds a connection (and its memory) for as long as it
likes; enough of them exhaust the server (Slowloris). ASGI middleware cannot help, it only runs once
the head is parsed. uvicorn's own issue for this (encode/uvicorn#157, `--timeout-request-start`) is
open, so `HeaderDeadlineProtocol` adds it around whichever protocol uvicorn's "auto" picks
(httptools when installed, else h11), relying only on what both share:

- the deadline starts when the connection is made, and again at the first byte of each later
  request (when uvicorn has just cancelled its keep-alive timer for that byte);
- it ends when the head is complete, which both protocols mark by starting a new `cycle` (a
  `RequestResponseCycle`), or when the connection is handed to a WebSocket protocol;
- when it expires the connection is closed without a response: the client has not sent a request
  that could be answered.

It bounds the head only; the body of a request is read by the application, whose own limits apply.
`FANHUB_HTTP_HEADER_TIMEOUT_SECONDS` sets it (`fanhub serve` passes this class to uvicorn).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from fanhub.config import get_settings


class _HeaderDeadline(asyncio.Protocol):
    """Mixed in before a uvicorn HTTP protocol class (see the module docstring)."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._header_seconds = get_settings().http_header_timeout_seconds
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        cycle_before = self._cycle()
        super().data_received(data)
        transport: Any = getattr(self, "transport", None)
        if transport is None or transport.is_closing() or transport.get_protocol() is not self:
            self._cancel_header_timer()  # closed, or upgraded to a WebSocket: no head to wait for
            return
        if self._cycle() is not cycle_before:
            self._cancel_header_timer()  # a head is complete; its request is being served
        if self._waiting_for_head():
            self._arm_header_timer()  # keeps a running deadline: trickling bytes do not extend it

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cycle(self) -> Any:
        return getattr(self, "cycle", None)

    def _waiting_for_head(self) -> bool:
        """No request being served: bytes received now belong to the next request's head."""
        cycle = self._cycle()
        return cycle is None or bool(cycle.response_complete)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            loop = asyncio.get_running_loop()
            self._header_timer = loop.call_later(self._header_seconds, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        transport: Any = getattr(self, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.close()


class HeaderDeadlineProtocol(_HeaderDeadline, AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's default HTTP protocol plus the request-head deadline."""
