"""A fake Twilio-compatible SMS API over real HTTP (uvicorn on 127.0.0.1, ephemeral port).

`POST /2010-04-01/Accounts/{sid}/Messages.json` with Basic auth (sid:token) and form fields
`To`, `From`, `Body`, `StatusCallback`, answering 201 with `{"sid", "status": "queued", ...}` as
Twilio does. Numbers in `invalid` get Twilio's 400 `{"code": 21211}`; `fail_next` answers the next
calls with the given statuses (429/500). `signature()` computes X-Twilio-Signature for webhook tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from tests.fakes._server import FakeService, Route, json_response


@dataclass
class Sms:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str | None


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


class FakeTwilio(FakeService):
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "sms-token") -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[Sms] = []
        self.invalid: set[str] = set()
        self.fail_next: list[int] = []
        self.calls = 0
        super().__init__()

    def _routes(self) -> list[Route]:
        return [Route.make("POST", r"/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json", self._create)]

    def _dispatch(self, request: Request, route: Route | None, params: dict[str, str]) -> Response:
        self.calls += 1
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return json_response({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        if route is None:
            return json_response({"code": 20404, "message": "Not found", "status": 404}, 404)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return json_response({"code": 20500 if status >= 500 else 20429, "message": "try later"}, status)
        return route.handler(request, **params)

    def _create(self, request: Request, sid: str) -> Response:
        if sid != self.account_sid:
            return json_response({"code": 20404, "message": "wrong account", "status": 404}, 404)
        form = dict(parse_qsl(request.state.body.decode()))
        to = form.get("To", "")
        if to in self.invalid or not to.startswith("+"):
            return json_response({"code": 21211, "message": f"The 'To' number {to} is not valid.", "status": 400}, 400)
        message = Sms(
            sid=f"SM{len(self.messages) + 1:032d}",
            to=to,
            sender=form.get("From", ""),
            body=form.get("Body", ""),
            status_callback=form.get("StatusCallback"),
        )
        self.messages.append(message)
        return json_response({"sid": message.sid, "status": "queued", "to": to, "body": message.body}, 201)

    def to(self, number: str) -> list[Sms]:
        with self.lock:
            return [m for m in self.messages if m.to == number]
