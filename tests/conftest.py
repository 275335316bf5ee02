"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with FANHUB_TEST_DATABASE_URL),
an HTTP client on the real app, and an organization with a partner key.

Each test starts from empty tables; the schema is migrated once per run with Alembic, so the
migrations themselves are under test on both databases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from fanhub.config import Settings, get_settings
from fanhub.db.base import Base
from fanhub.db.engine import Database, get_database
from fanhub.db.migrate import upgrade
from fanhub.wiring import connect_domains

os.environ.setdefault("FANHUB_DEFAULT_PHONE_REGION", "US")
# Every app a test starts would otherwise spawn its validation helpers; the tests that exercise
# them (tests/partners/test_validation_pool.py) ask for them explicitly.
os.environ.setdefault("FANHUB_VALIDATION_PROCESSES", "0")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("FANHUB_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'fanhub-test.db'}"
    os.environ["FANHUB_DATABASE_URL"] = url
    os.environ["FANHUB_SECRET_KEY"] = os.environ.get("FANHUB_SECRET_KEY", "test-secret-key-for-fanhub-tests-0001")
    get_settings.cache_clear()
    upgrade(url)
    connect_domains()  # as the app, the worker and the CLI do at start (attribution follows orders)
    return url


@pytest.fixture(scope="session")
def _database(database_url: str) -> Database:
    return get_database()


@pytest.fixture
def db(_database: Database) -> Iterator[Database]:
    _truncate(_database)
    yield _database


def _truncate(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
        else:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(db: Database) -> Settings:
    return get_settings()


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    from fanhub.app import create_app

    with TestClient(create_app(settings, database=db, run_worker=False)) as test_client:
        yield test_client


@dataclass
class Tenant:
    organization_id: int
    key_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cymbal-Partner-API-Key": self.token}


def make_tenant(db: Database, name: str = "Belly Up Aspen", partner: str = "acme") -> Tenant:
    from fanhub.auth.service import create_key
    from fanhub.organizations.service import create_organization

    with db.write() as session:
        org = create_organization(session, name)
        key, token = create_key(session, org.id, partner)
        return Tenant(org.id, key.id, token)


@pytest.fixture
def tenant(db: Database) -> Tenant:
    return make_tenant(db)


def drain(db: Database) -> int:
    from fanhub.ingest.service import drain as drain_batches

    return drain_batches(db)


def post_and_apply(client: TestClient, db: Database, tenant: Tenant, path: str, body: dict[str, Any]) -> str:
    response = client.post(f"/v1/partners/{path}", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    drain(db)
    batch_id: str = response.json()["batch_id"]
    status = client.get(f"/v1/partners/batches/{batch_id}", headers=tenant.headers).json()["response"]
    assert status["status"] == "applied", status
    return batch_id


REPO_ROOT = Path(__file__).resolve().parents[1]
