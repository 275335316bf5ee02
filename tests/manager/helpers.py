"""Helpers for manager tests: users, signing in through the real form, reading CSRF tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from fanhub.db.engine import Database

PASSWORD = "correct horse battery"


def make_user(db: Database, organization_id: int, email: str, role: str = "admin", password: str = PASSWORD) -> int:
    from fanhub.auth.users import create_user

    with db.write() as session:
        user, _ = create_user(session, organization_id, email, role, password)
        return user.id


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    page = client.get("/manager/login")
    assert page.status_code == 200, page.text
    response = client.post(
        "/manager/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/manager/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert "fanhub_session" in response.cookies or client.cookies.get("fanhub_session")


def page_csrf(client: TestClient, path: str = "/manager/") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)
