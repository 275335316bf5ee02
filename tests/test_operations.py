"""Operating fanhub: the CLI's JSON contract, `serve` on a fresh database, and /healthz."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.processes import free_port, run_cli, start_server, stop


def test_cli_admin_commands_print_one_json_object(db: Database) -> None:
    org = run_cli("org", "create", "Belly Up")
    assert org["_exit_code"] == 0 and org["name"] == "Belly Up" and isinstance(org["id"], int)
    key = run_cli("key", "create", "--org", str(org["id"]), "--partner", "acme")
    assert key["token"].startswith("fh_") and isinstance(key["id"], int)
    tag = run_cli("tag", "create", "--org", str(org["id"]), "VIP")
    lst = run_cli("list", "create", "--org", str(org["id"]), "Newsletter")
    assert isinstance(tag["id"], int) and isinstance(lst["id"], int)
    duplicate = run_cli("tag", "create", "--org", str(org["id"]), "VIP")
    assert duplicate["_exit_code"] != 0 and "already exists" in duplicate["error"]
    missing = run_cli("key", "create", "--org", "999", "--partner", "x")
    assert missing["_exit_code"] != 0 and "not found" in missing["error"]

    from fanhub.auth.models import ApiKey

    with db.read() as session:
        stored = session.get(ApiKey, key["id"])
        assert stored is not None and key["token"] not in (stored.token_hash, stored.token_prefix)
    listed = run_cli("key", "list", "--org", str(org["id"]))
    assert key["token"] not in str(listed) and listed["keys"][0]["id"] == key["id"]
    revoked = run_cli("key", "revoke", str(key["id"]))
    assert revoked == {"id": key["id"], "revoked": True, "_exit_code": 0}


def test_serve_prints_docs_and_first_steps_then_answers(db: Database) -> None:
    port = free_port()
    server = start_server(port)
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health["status"] == "ok" and health["database"] == "reachable"
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"] == "fanhub"
    finally:
        stop(server)
    output = server.stdout.read() if server.stdout else ""
    assert f"http://127.0.0.1:{port}/docs" in output
    assert "fanhub org create" in output and "fanhub key create --org 1 --partner" in output


def test_healthz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    from fanhub.app import create_app

    unreachable = Database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=1")
    with TestClient(create_app(settings, database=unreachable, run_worker=False)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
