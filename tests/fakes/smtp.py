"""A real SMTP server for tests and benchmarks: aiosmtpd on 127.0.0.1, an ephemeral port, in a thread.

It records every accepted message (envelope and raw bytes) and can be told to refuse recipients
with a 5xx (a hard bounce at RCPT time) or a 4xx (try later), or to drop the connection after a
given number of messages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Self, cast

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def parsed(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.data, policy=policy.default))


class _Handler:
    def __init__(self, server: FakeSmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        with self.server.lock:
            answer = self.server.refuse.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            self.server.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
            self.server.accepted.set()
        return "250 Message accepted for delivery"


class _EphemeralController(Controller):
    """aiosmtpd's Controller bound to port 0: the real port is read back before the readiness probe."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtpServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.accepted = threading.Event()
        self._controller = _EphemeralController(_Handler(self), hostname="127.0.0.1", port=0)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        with self.lock:
            self.refuse[address.lower()] = reply

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m.parsed() for m in self.received() if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
