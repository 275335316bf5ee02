"""The OpenAPI document is the truth: schemathesis drives every documented operation from it.

A bounded, reproducible run (fixed seed, at most MAX_EXAMPLES generated cases per operation and
phase) authenticated with a partner key. It fails on any 5xx, any status the document does not
list for the operation, any response whose body or content type disagrees with the document, and
any 405 without `Allow`. It runs in the normal suite, so CI runs it on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis import Case
from schemathesis.python.asgi import ASGIClient

from fanhub.app import create_app
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.conftest import Tenant, post_and_apply
from tests.examples import EVENTS, ORDERS

# A deeper local run: FANHUB_SCHEMATHESIS_EXAMPLES=500 uv run pytest tests/test_openapi_contract.py
MAX_EXAMPLES = int(os.environ.get("FANHUB_SCHEMATHESIS_EXAMPLES", "20"))
SEED = 20261127
BASE_URL = "http://testserver"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
    "unsupported_method",  # an undocumented method gets 405 with `Allow`
)


# A P-256 public key (base64 DER, as SendGrid shows it) whose private half nobody kept.
_SENDGRID_TEST_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJcpUtD79rcT15blLe9pRoYrlJ0Ofx89oKENn8IiqEnbusPko8uFVxjhoQHUv1AuRZaj8sw4"
    "PovNUM26CypFINQ=="
)


def _document() -> dict[str, Any]:
    """The app's OpenAPI document; building it touches no database (an unused in-memory one)."""
    return create_app(Settings(), database=Database("sqlite://"), run_worker=False).openapi()


schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": BASE_URL,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
        }
    ),
)


def _flow(db: Database, tenant: Tenant) -> None:
    """Flow 1 (a draft from a template), so the flow analytics detail answers 200 too."""
    from fanhub.flows.service import create_flow
    from fanhub.flows.templates import KNOW_BEFORE_YOU_GO

    with db.write() as session:
        create_flow(session, tenant.organization_id, KNOW_BEFORE_YOU_GO.definition())


@pytest.fixture
def session(client: TestClient, db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> Iterator[ASGIClient]:
    """Requests for schemathesis, served in-process by the test client's app (lifespan already started),
    on an organization with an event, an order, a contact and a flow (id 1 each), so reads also answer 200.
    The bounce routes are configured: unconfigured, they answer 503 by design (providers retry)."""
    from fanhub.config import get_settings

    monkeypatch.setenv("FANHUB_INBOUND_TOKEN", "contract-inbound-token")
    monkeypatch.setenv("FANHUB_MAILGUN_WEBHOOK_SIGNING_KEY", "contract-mailgun-key")
    monkeypatch.setenv("FANHUB_POSTMARK_WEBHOOK_CREDENTIALS", "contract:postmark")
    monkeypatch.setenv("FANHUB_SENDGRID_WEBHOOK_PUBLIC_KEY", _SENDGRID_TEST_KEY)
    get_settings.cache_clear()
    contact = {"contact": {"email": "jane@example.com", "first_name": "Jane"}, "opt_ins": {"email": True}}
    for path, body in (("events", EVENTS), ("orders", ORDERS), ("contact", contact)):
        post_and_apply(client, db, tenant, path, body)
    _flow(db, tenant)
    app: Any = client.app
    asgi = ASGIClient(app)
    yield asgi
    asgi.close()


@schema.parametrize()
# The app and its database are meant to live across the generated requests of one operation.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_openapi_contract(case: Case, session: ASGIClient, tenant: Tenant) -> None:
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]
    case.call_and_validate(base_url=BASE_URL, session=session, headers=tenant.headers, checks=checks)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/partners/events", "GET, POST"),  # two routes share the path: both methods are named
        ("PUT", "/v1/partners/genres", "GET"),
        ("GET", "/v1/webhooks/eventbrite/1/secret", "POST"),
        ("TRACE", "/healthz", "GET"),
    ],
)
def test_405_names_every_allowed_method(client: TestClient, tenant: Tenant, method: str, path: str, allow: str) -> None:
    response = client.request(method, path, headers=tenant.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"code": 405, "message": f"method {method} is not allowed here"}


# Bodies the service rejects for a reason a JSON schema can state; the document must reject them too.
REJECTED_BODIES = [
    ("CreateEventsRequest", "events", {"events": [{**EVENTS["events"][0], "id": ""}]}),
    ("CreateOrdersRequest", "orders", {"orders": [{**ORDERS["orders"][0], "id": ""}]}),
    ("CreateOrdersRequest", "orders", {"orders": [{**ORDERS["orders"][0], "event_id": ""}]}),
    ("CreateOrdersRequest", "orders", {"orders": [{**ORDERS["orders"][0], "customer": {"first_name": "John"}}]}),
    ("CreateContactRequest", "contact", {"contact": {"full_name": "John Smith"}}),
    ("SubscribeRequest", "subscribe", {"contact": {"email": None, "phone": None}}),
]


@pytest.mark.parametrize(("component", "path", "body"), REJECTED_BODIES)
def test_the_document_rejects_what_the_service_rejects(
    client: TestClient, tenant: Tenant, component: str, path: str, body: dict[str, Any]
) -> None:
    """Empty ids and a contact with neither email nor phone: 422 from the service, invalid per the document."""
    response = client.post(f"/v1/partners/{path}", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    document = client.get("/openapi.json").json()
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    )
    assert not validator.is_valid(body), f"the document accepts a body the service rejects: {response.json()}"
