"""The manager's data rights (HTTP): an admin downloads a contact's data as JSON and erases it after
a confirmation page; marketers and viewers get neither; the audit page lists exports, erasures and
suppression removals; another organization's contact is not found."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from fanhub.audience import suppression
from fanhub.db.engine import Database
from tests.manager.conftest import Staff, staff  # noqa: F401 (fixture)
from tests.manager.helpers import login, make_user
from tests.privacy.conftest import EMAIL, FIRST, Person, figures


def test_admin_downloads_and_erases_after_confirming(
    client: TestClient,
    db: Database,
    person: Person,
    staff: Staff,  # noqa: F811
) -> None:
    contact_page = client.get(f"/manager/contacts/{person.contact_id}").text
    assert "Download data" in contact_page and f"/manager/contacts/{person.contact_id}/erase" in contact_page

    response = client.get(f"/manager/contacts/{person.contact_id}/export.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    document = json.loads(response.text)
    assert document["contact"]["email"] == EMAIL and document["contact_id"] == person.contact_id

    confirm = client.get(f"/manager/contacts/{person.contact_id}/erase")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text and EMAIL in confirm.text
    # Nothing was erased by looking at the confirmation.
    assert json.loads(client.get(f"/manager/contacts/{person.contact_id}/export.json").text)["contact"]["email"]

    before = figures(client, db, person)
    refused = client.post(f"/manager/contacts/{person.contact_id}/erase", data={}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token, no erasure
    done = staff.post(f"/manager/contacts/{person.contact_id}/erase")
    assert done.status_code == 303 and "erased" in done.headers["location"]
    assert figures(client, db, person) == before
    after = client.get(f"/manager/contacts/{person.contact_id}").text
    assert EMAIL not in after and FIRST not in after
    assert f"<h1>Contact {person.contact_id}</h1>" in after  # an anonymous contact is named by its id

    audit = client.get("/manager/audit").text
    actor = f"staff:{staff.user_id}"
    assert audit.count("contact.export") == 2 and audit.count("contact.erase") == 1 and actor in audit
    assert staff.post("/manager/suppressions/remove", {"address": EMAIL}).status_code == 303
    audit = client.get("/manager/audit").text
    assert "suppression.remove" in audit and EMAIL not in audit
    assert suppression.erased_key(person.org, EMAIL) in audit  # the hash, never the address


def test_marketers_and_viewers_get_neither(client: TestClient, db: Database, person: Person) -> None:
    for role in ("viewer", "marketer"):
        make_user(db, person.org, f"{role}@venue.example", role)
        client.cookies.clear()
        login(client, f"{role}@venue.example")
        page = client.get(f"/manager/contacts/{person.contact_id}").text
        assert "Download data" not in page and "/erase" not in page
        for path in ("export.json", "erase"):
            assert client.get(f"/manager/contacts/{person.contact_id}/{path}").status_code == 403
        assert client.get("/manager/audit").status_code == 403


def test_another_organizations_contact_is_not_found(
    client: TestClient,
    db: Database,
    person: Person,
    staff: Staff,  # noqa: F811
) -> None:
    from tests.conftest import make_tenant

    other = make_tenant(db, "Elsewhere", "other")
    with db.write() as session:
        from fanhub.auth.users import set_membership

        set_membership(session, other.organization_id, staff.user_id, "admin")
    client.post("/manager/switch-org", data={"organization_id": other.organization_id, "csrf_token": staff.csrf()})
    assert client.get(f"/manager/contacts/{person.contact_id}/export.json").status_code == 404
    assert staff.post(f"/manager/contacts/{person.contact_id}/erase").status_code == 404
