"""`fanhub serve` drops connections whose request head is slow, and idle keep-alive connections.

The real server runs in a subprocess on a temporary SQLite file with short timeouts; raw sockets
play the slow clients. Every wait is bounded, so a server that never closes fails the test instead
of hanging it.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import fanhub_env, free_port, start_server, stop

HEADER_TIMEOUT = 1.0
KEEP_ALIVE = 1
# The longest a test waits for the server to close a connection it should close after ~1 s.
BOUND = 4.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder: Path = tmp_path_factory.mktemp("timeouts")
    env = fanhub_env(
        FANHUB_DATABASE_URL=f"sqlite:///{folder / 'fanhub.db'}",
        FANHUB_HTTP_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        FANHUB_HTTP_KEEP_ALIVE_SECONDS=str(KEEP_ALIVE),
        FANHUB_VALIDATION_PROCESSES="0",
    )
    port = free_port()
    process = start_server(port, "--no-worker", "--json", env=env)
    try:
        yield port
    finally:
        stop(process)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=BOUND)


def _closed_after(sock: socket.socket, started: float) -> float:
    """Seconds from `started` until the server closes `sock` (reads drain any response first)."""
    deadline = started + BOUND
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - started
            except ConnectionResetError:
                return time.monotonic() - started
    raise AssertionError(f"the server kept the connection open for more than {BOUND} s")


def _read_response(sock: socket.socket) -> bytes:
    """One complete response to a GET /healthz (its JSON body ends with "}")."""
    data = b""
    while not (b"\r\n\r\n" in data and data.rstrip().endswith(b"}")):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    return data


REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_half_a_request_line_is_dropped_within_the_header_timeout(server: int) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HT")
        assert HEADER_TIMEOUT * 0.8 <= _closed_after(sock, started) < BOUND


def test_a_connection_that_sends_nothing_is_dropped(server: int) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        assert HEADER_TIMEOUT * 0.8 <= _closed_after(sock, started) < BOUND


def test_trickling_bytes_does_not_extend_the_deadline(server: int) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        closed_at = None
        for byte in REQUEST[:-4]:  # never finishes the head
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic() - started
                break
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable and sock.recv(65536) == b"":
                closed_at = time.monotonic() - started
                break
            assert time.monotonic() - started < BOUND, "the server kept a trickling head open"
        assert closed_at is not None and closed_at < HEADER_TIMEOUT + 1.0


def test_normal_and_split_requests_are_answered_and_keep_alive_then_times_out(server: int) -> None:
    assert httpx.get(f"http://127.0.0.1:{server}/healthz", timeout=BOUND).status_code == 200
    with _connect(server) as sock:
        # A head arriving in pieces, all within the deadline, is served.
        sock.sendall(REQUEST[:10])
        time.sleep(HEADER_TIMEOUT / 2)
        sock.sendall(REQUEST[10:])
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        # The connection is kept alive for a next request, which gets the whole deadline again:
        # waiting longer than the header timeout in total (0.5 s before + 0.5 s here) is fine.
        time.sleep(HEADER_TIMEOUT / 2)
        sock.sendall(REQUEST)
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        # Then, idle, it is closed after the keep-alive timeout.
        assert KEEP_ALIVE * 0.8 <= _closed_after(sock, time.monotonic()) < BOUND


def test_a_slow_second_head_on_a_kept_alive_connection_is_dropped(server: int) -> None:
    with _connect(server) as sock:
        sock.sendall(REQUEST)
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        sock.sendall(b"GET /hea")  # cancels the keep-alive timer; the head deadline takes over
        assert HEADER_TIMEOUT * 0.8 <= _closed_after(sock, started) < BOUND
