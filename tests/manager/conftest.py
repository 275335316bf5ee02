"""Manager fixtures: an organization with a signed-in admin on the real app (TestClient)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.manager.helpers import login, make_user, page_csrf


@dataclass
class Staff:
    client: TestClient
    db: Database
    tenant: Tenant
    user_id: int

    @property
    def org(self) -> int:
        return self.tenant.organization_id

    def csrf(self, path: str = "/manager/") -> str:
        return page_csrf(self.client, path)

    def post(self, path: str, data: dict[str, object] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        body = dict(data or {})
        body.setdefault("csrf_token", self.csrf())
        return self.client.post(path, data=body, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def staff(client: TestClient, db: Database, tenant: Tenant) -> Staff:
    user_id = make_user(db, tenant.organization_id, "admin@venue.example", "admin")
    login(client, "admin@venue.example")
    return Staff(client, db, tenant, user_id)
