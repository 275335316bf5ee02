"""Issue 17: a platform is its own module plus one line in `registry.PLATFORMS`.

The CLI's connect commands, the manager's connect form, the webhook receiver and the sync are
derived from the registry; the generic modules never branch on a platform's name.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fanhub.config import Settings
from fanhub.connectors import registry, service
from fanhub.connectors.base import ApiClient, ClientOptions, default_classify
from fanhub.connectors.cli import connect_command
from fanhub.connectors.connector import (
    Accepted,
    Connector,
    Delivery,
    Field,
    Rejected,
    WebhookContext,
    WebhookHandler,
)
from fanhub.connectors.registry import PLATFORMS
from fanhub.connectors.sync import ConnectionInfo, WebhookOutcome, build
from fanhub.connectors.webhooks import process_due, receive
from fanhub.db.engine import Database
from fanhub.ingest.records import ContactRecord
from tests.conftest import Tenant, drain

SRC = Path(__file__).resolve().parents[2] / "src" / "fanhub"
GENERIC = [
    "connectors/service.py",
    "connectors/webhooks.py",
    "connectors/endpoints.py",
    "connectors/cli.py",
    "connectors/jobs.py",
    "connectors/streams.py",
    "connectors/connector.py",
    "connectors/sync.py",
    "manager/connection_pages.py",
]


def test_generic_modules_never_branch_on_a_platform() -> None:
    names = set(PLATFORMS)
    found = []
    for relative in GENERIC:
        for node in ast.walk(ast.parse((SRC / relative).read_text())):
            if isinstance(node, ast.Compare):
                constants = [n.value for n in [node.left, *node.comparators] if isinstance(n, ast.Constant)]
                found += [f"{relative}:{node.lineno}" for value in constants if value in names]
    assert found == []
    for relative in ("connectors/webhooks.py", "connectors/cli.py", "manager/connection_pages.py"):
        text = (SRC / relative).read_text().lower()
        assert not [name for name in names if f'"{name}"' in text], relative
    assert not [name for name in names if name in (SRC / "manager/templates/connections.html").read_text()]


# --- a platform that exists only in this test ------------------------------------------------------


class _Hooks(WebhookHandler):
    responses = {401: "a wrong pass"}

    def accept(
        self,
        info: ConnectionInfo,
        headers: Mapping[str, str],
        raw_body: bytes,
        body: dict[str, Any],
        query: Mapping[str, str],
    ) -> Accepted | Rejected:
        if headers.get("x-pass") != info.credentials["passphrase"]:
            return Rejected(401, "wrong pass")
        return Accepted("signup", body, f"demo:{body.get('email')}")

    def process(self, delivery: Delivery, context: WebhookContext) -> WebhookOutcome:
        contact = build(ContactRecord, {"contact": {"email": delivery.body["email"]}, "via": "connector.demo"})
        return WebhookOutcome(contacts=[contact])


class DemoConnector(Connector):
    platform = "demo"
    label = "Demo Tickets"
    summary = "Connect a Demo Tickets account."
    default_base_url = "https://demo.invalid/api"
    fields = (Field("passphrase", "pass phrase", "The account's pass phrase."),)
    webhooks = _Hooks()

    @classmethod
    def make_client(
        cls, base_url: str, credentials: Mapping[str, Any], settings: Settings, options: ClientOptions
    ) -> ApiClient:
        def platform(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200 if credentials["passphrase"] == "open sesame" else 401, json={})

        return options.client(base_url, default_classify, transport=httpx.MockTransport(platform))

    def verify(self) -> dict[str, Any]:
        return dict(self.client.get_json("me"))


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> type[DemoConnector]:
    monkeypatch.setitem(registry.PLATFORMS, DemoConnector.platform, DemoConnector)
    return DemoConnector


def test_a_new_platform_needs_only_its_class_and_a_registry_line(
    db: Database, org: Tenant, demo: type[DemoConnector], client: TestClient
) -> None:
    with pytest.raises(service.ConnectFailed, match="rejected"):
        service.connect(db, org.organization_id, "demo", {"passphrase": "guess"})
    connected = service.connect(db, org.organization_id, "demo", {"passphrase": "open sesame"})
    assert set(connected) == {"id", "webhook_url"} and "/v1/webhooks/demo/" in connected["webhook_url"]
    assert service.run_sync(db, int(connected["id"])).finished  # no streams declared: nothing to read

    path = "/" + connected["webhook_url"].split("/", 3)[3]
    assert client.post(path, json={"email": "new@example.com"}).status_code == 401
    response = client.post(path, json={"email": "new@example.com"}, headers={"x-pass": "open sesame"})
    assert response.status_code == 200 and response.json() == {"received": True, "duplicate": False}
    assert process_due(db) == 1
    drain(db)
    with db.read() as session:
        (view,) = service.list_connections(session, org.organization_id)
    assert view["platform"] == "demo" and view["counts"]["contacts"] == 1
    assert receive(db, "nope", int(connected["id"]), "x", {}, b"{}").status == 404


def test_its_connect_command_and_form_come_from_its_fields(
    db: Database, org: Tenant, demo: type[DemoConnector]
) -> None:
    app = typer.Typer()
    app.command("demo")(connect_command(DemoConnector))
    app.command("other")(lambda: None)  # two commands: typer keeps the command name
    result = CliRunner().invoke(
        app, ["demo", "--org", str(org.organization_id), "--passphrase", "open sesame", "--json"]
    )
    assert result.exit_code == 0, result.stdout
    assert '"webhook_url"' in result.stdout and "/v1/webhooks/demo/" in result.stdout
    missing = CliRunner().invoke(app, ["demo", "--org", str(org.organization_id), "--json"])
    assert missing.exit_code != 0 and "--passphrase" in missing.output
