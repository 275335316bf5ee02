"""Sign-in rules: setup link, login/logout, wrong password and throttling, CSRF, roles, organizations."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fanhub.auth.users import create_setup_token
from fanhub.db.engine import Database
from tests.conftest import Tenant, make_tenant
from tests.manager.conftest import Staff
from tests.manager.helpers import PASSWORD, csrf_of, login, make_user, page_csrf


def test_setup_link_creates_the_first_admin_once(client: TestClient, db: Database, tenant: Tenant) -> None:
    assert client.get("/manager/login").status_code == 200  # "not set up yet" page, not an error
    with db.write() as session:
        token = create_setup_token(session)
    assert token
    page = client.get(f"/manager/setup?token={token}")
    assert page.status_code == 200 and "Create the first admin" in page.text
    form = {"csrf_token": csrf_of(page.text), "token": token, "email": "Boss@Venue.example", "password": "short"}
    bad = client.post("/manager/setup", data={**form, "password2": "short"})
    assert bad.status_code == 400 and "at least 10 characters" in bad.text
    ok = client.post(
        "/manager/setup", data={**form, "password": PASSWORD, "password2": PASSWORD}, follow_redirects=False
    )
    assert ok.status_code == 303
    home = client.get("/manager/")
    assert home.status_code == 200 and "boss@venue.example (admin)" in home.text
    # The link is dead now, and no new one is issued once a user exists.
    assert client.get(f"/manager/setup?token={token}").status_code == 404
    with db.write() as session:
        assert create_setup_token(session) is None


def test_login_logout_and_wrong_password(client: TestClient, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    assert client.get("/manager/", follow_redirects=False).headers["location"].startswith("/manager/login")
    page = client.get("/manager/login")
    wrong = client.post(
        "/manager/login",
        data={"email": "m@venue.example", "password": "nope-nope-nope", "csrf_token": csrf_of(page.text)},
    )
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    login(client, "m@venue.example")
    cookie = client.cookies.get("fanhub_session")
    assert cookie
    response = client.get("/manager/")
    assert response.status_code == 200
    logout = client.post("/manager/logout", data={"csrf_token": csrf_of(response.text)}, follow_redirects=False)
    assert logout.status_code == 303
    client.cookies.set("fanhub_session", cookie, path="/manager")  # an old cookie is worthless after logout
    assert client.get("/manager/", follow_redirects=False).status_code == 303


def test_session_cookie_flags(client: TestClient, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    page = client.get("/manager/login")
    response = client.post(
        "/manager/login",
        data={"email": "m@venue.example", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/manager" in header
    assert "secure" not in header  # plain-http public URL; https public URLs get Secure


def test_failed_logins_are_slowed_per_account(client: TestClient, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    csrf = csrf_of(client.get("/manager/login").text)
    for _ in range(5):
        r = client.post("/manager/login", data={"email": "m@venue.example", "password": "x" * 12, "csrf_token": csrf})
        assert r.status_code == 401
    # Even the right password waits now.
    r = client.post("/manager/login", data={"email": "m@venue.example", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 429 and "Try again in" in r.text


def test_failed_logins_are_slowed_per_address(client: TestClient, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    csrf = csrf_of(client.get("/manager/login").text)
    for i in range(20):  # different accounts, one address: each account stays under its own limit
        r = client.post(
            "/manager/login", data={"email": f"u{i}@venue.example", "password": "x" * 12, "csrf_token": csrf}
        )
        assert r.status_code == 401
    r = client.post("/manager/login", data={"email": "m@venue.example", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 429


def test_login_form_needs_its_csrf_token(client: TestClient, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    client.get("/manager/login")
    r = client.post("/manager/login", data={"email": "m@venue.example", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and "Form expired" in r.text


def test_state_changing_requests_need_the_session_csrf_token(staff: Staff) -> None:
    for token in ("", "forged-token"):
        r = staff.client.post("/manager/tags", data={"kind": "tag", "name": "VIP", "csrf_token": token})
        assert r.status_code == 403
    assert "VIP" not in staff.client.get("/manager/tags").text
    r = staff.post("/manager/tags", {"kind": "tag", "name": "VIP"})
    assert r.status_code == 303
    # The header works too (for script requests).
    r = staff.client.post(
        "/manager/tags",
        data={"kind": "tag", "name": "VIP2"},
        headers={"X-CSRF-Token": staff.csrf()},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_roles_limit_what_users_may_do(client: TestClient, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "v@venue.example", "viewer")
    login(client, "v@venue.example")
    assert client.get("/manager/contacts").status_code == 200
    assert client.get("/manager/settings/keys").status_code == 403
    assert client.get("/manager/settings/users").status_code == 403
    csrf = page_csrf(client)
    assert client.post("/manager/tags", data={"kind": "tag", "name": "X", "csrf_token": csrf}).status_code == 403
    # A marketer may tag but not manage keys.
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    client.cookies.clear()
    login(client, "m@venue.example")
    csrf = page_csrf(client)
    r = client.post("/manager/tags", data={"kind": "tag", "name": "X", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/manager/settings/keys", data={"partner": "p", "csrf_token": csrf})
    assert r.status_code == 403


def test_switching_organizations_never_leaks(staff: Staff) -> None:
    other = make_tenant(staff.db, "Other Venue", "other")
    make_user(staff.db, other.organization_id, "admin@venue.example", "viewer")
    staff.post("/manager/tags", {"kind": "tag", "name": "HomeOnlyTag"})
    from fanhub.audience.service import create_tag

    with staff.db.write() as session:
        other_tag = create_tag(session, other.organization_id, "OtherOrgSecret").id
    tags = staff.client.get("/manager/tags").text
    assert "HomeOnlyTag" in tags and "OtherOrgSecret" not in tags
    # Acting on the other organization's tag id is "not found".
    r = staff.post(f"/manager/tags/tag/{other_tag}/delete")
    assert r.status_code == 404
    r = staff.post("/manager/switch-org", {"organization_id": other.organization_id})
    assert r.status_code == 303
    page = staff.client.get("/manager/tags").text
    assert "OtherOrgSecret" in page and "HomeOnlyTag" not in page
    assert "(viewer)" in page
    # Switching to an organization one does not belong to is not found.
    third = make_tenant(staff.db, "Third", "third")
    assert staff.post("/manager/switch-org", {"organization_id": third.organization_id}).status_code == 404


def test_cli_user_create_prints_one_json_object(db: Database, tenant: Tenant) -> None:
    from fanhub.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "user",
            "create",
            "--org",
            str(tenant.organization_id),
            "--email",
            "cli@venue.example",
            "--role",
            "marketer",
            "--password-stdin",
            "--json",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["email"] == "cli@venue.example" and body["role"] == "marketer" and "password" not in body
    bad = runner.invoke(app, ["user", "create", "--org", "999", "--email", "x@venue.example", "--json"])
    assert bad.exit_code != 0 and "error" in json.loads(bad.stdout)
    generated = runner.invoke(
        app, ["user", "create", "--org", str(tenant.organization_id), "--email", "gen@venue.example", "--json"]
    )
    assert re.fullmatch(r"\S{12,}", json.loads(generated.stdout)["password"])


def test_serve_prints_a_setup_link_only_while_no_user_exists(db: Database, tenant: Tenant) -> None:
    from fanhub.cli import _manager_setup_link

    link = _manager_setup_link("http://127.0.0.1:8000")
    assert link is not None and "/manager/setup?token=" in link
    make_user(db, tenant.organization_id, "first@venue.example", "admin")
    assert _manager_setup_link("http://127.0.0.1:8000") is None
