"""Staff correct a contact: each change audited, identity rules kept, no duplicate ever made."""

from __future__ import annotations

from fanhub.audience.models import Contact
from fanhub.organizations.audit import AuditEntry
from tests.conftest import post_and_apply
from tests.manager.conftest import Staff
from tests.manager.helpers import login, make_user


def _contact(staff: Staff, email: str, phone: str | None = None, tags: list[str] | None = None) -> int:
    body: dict[str, object] = {"contact": {"email": email, "first_name": "Ann", "tags": tags or []}}
    body["opt_ins"] = {"email": True}
    if phone:
        body["contact"]["phone"] = phone  # type: ignore[index]
    post_and_apply(staff.client, staff.db, staff.tenant, "contact", body)
    with staff.db.read() as session:
        return session.query(Contact).filter_by(email=email).one().id


def _row(staff: Staff, contact_id: int) -> Contact:
    with staff.db.read() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        session.expunge(contact)
        return contact


def test_staff_correct_a_contact_and_every_change_is_audited(staff: Staff) -> None:
    ann = _contact(staff, "ann@example.com", "+1 970 555 0100")
    fields = {"first_name": "Anne", "last_name": "Lee", "email": " ANNE@Example.com ", "phone": "(970) 555-0100"}
    fields |= {"birthday": "1990-04-01", "postal_code": "81611"}
    response = staff.post(f"/manager/contacts/{ann}/edit", fields)
    assert response.status_code == 303 and "Saved" in response.headers["location"]
    row = _row(staff, ann)
    # The same normalisation as every source; an unchanged phone written another way is no change.
    assert (row.first_name, row.last_name, row.email, row.phone) == ("Anne", "Lee", "anne@example.com", "+19705550100")
    assert (row.birthday, row.postal_code, row.email_status) == ("1990-04-01", "81611", "subscribed")
    with staff.db.read() as session:
        entry = session.query(AuditEntry).filter_by(contact_id=ann).one()
    assert entry.actor == f"staff:{staff.user_id}" and entry.action == "contact.edit"
    assert entry.details["email"] == ["ann@example.com", "anne@example.com"]
    assert entry.details["birthday"] == [None, "1990-04-01"] and "phone" not in entry.details
    page = staff.client.get(f"/manager/contacts/{ann}").text
    assert 'id="contact-edits"' in page and "ann@example.com → anne@example.com" in page
    assert "<dd>(970) 555-0100</dd>" in page  # shown in the organization's region's format


def test_an_edit_never_resubscribes_an_opt_out(staff: Staff) -> None:
    body = {"contact": {"email": "gone@example.com"}, "opt_ins": {"email": False}}
    post_and_apply(staff.client, staff.db, staff.tenant, "contact", body)
    with staff.db.read() as session:
        gone = session.query(Contact).filter_by(email="gone@example.com").one().id
    assert staff.post(f"/manager/contacts/{gone}/edit", {"email": "new@example.com"}).status_code == 303
    row = _row(staff, gone)
    assert (row.email, row.email_status) == ("new@example.com", "unsubscribed")
    with staff.db.read() as session:
        from fanhub.audience.models import ConsentEvent

        assert [e.subscribed for e in session.query(ConsentEvent).filter_by(contact_id=gone)] == [False]


def test_an_edit_never_makes_a_duplicate_nor_an_unreachable_contact(staff: Staff) -> None:
    ann = _contact(staff, "ann@example.com")
    bob = _contact(staff, "bob@example.com", "+1 970 555 0111")
    taken = staff.post(f"/manager/contacts/{ann}/edit", {"email": "BOB@example.com", "postal_code": "81611"})
    assert taken.status_code == 400
    assert f"contact {bob} already has this email" in taken.text and 'id="error-email"' in taken.text
    assert 'value="BOB@example.com"' in taken.text  # what was typed is kept for correction
    assert _row(staff, ann).email == "ann@example.com" and _row(staff, ann).postal_code is None  # nothing saved
    phone_taken = staff.post(f"/manager/contacts/{ann}/edit", {"phone": "970-555-0111"})
    assert phone_taken.status_code == 400 and "already has this phone" in phone_taken.text
    cleared = staff.post(f"/manager/contacts/{ann}/edit", {"email": "", "phone": ""})
    assert cleared.status_code == 400 and "needs an email or a phone" in cleared.text
    for birthday in ("1 April 1990", "2990-01-01", "1990-4-1"):
        bad = staff.post(f"/manager/contacts/{ann}/edit", {"birthday": birthday})
        assert bad.status_code == 400 and 'id="error-birthday"' in bad.text
    with staff.db.read() as session:
        assert session.query(AuditEntry).count() == 0


def test_removing_a_tag_or_list_from_one_contact(staff: Staff) -> None:
    staff.post("/manager/tags", {"kind": "tag", "name": "VIP"})
    staff.post("/manager/tags", {"kind": "list", "name": "Newsletter"})
    ann = _contact(staff, "ann@example.com", tags=["VIP"])
    from fanhub.audience.service import list_lists, list_tags

    with staff.db.read() as session:
        vip, newsletter = list_tags(session, staff.org)[0].id, list_lists(session, staff.org)[0].id
    staff.post("/manager/contacts/bulk", {"contact_id": [ann], "bulk_target": f"list:{newsletter}"})
    page = staff.client.get(f"/manager/contacts/{ann}").text
    assert 'aria-label="Remove tag VIP"' in page and 'aria-label="Remove from list Newsletter"' in page
    assert staff.post(f"/manager/contacts/{ann}/labels/remove", {"label": f"tag:{vip}"}).status_code == 303
    assert staff.post(f"/manager/contacts/{ann}/labels/remove", {"label": f"list:{newsletter}"}).status_code == 303
    page = staff.client.get(f"/manager/contacts/{ann}").text
    assert 'aria-label="Remove tag VIP"' not in page and 'aria-label="Remove from list Newsletter"' not in page
    with staff.db.read() as session:
        actions = sorted((e.action, str(e.details)) for e in session.query(AuditEntry).filter_by(contact_id=ann))
    assert actions == [("contact.unlist", "{'list': 'Newsletter'}"), ("contact.untag", "{'tag': 'VIP'}")]


def test_a_viewer_cannot_edit(staff: Staff) -> None:
    ann = _contact(staff, "ann@example.com")
    make_user(staff.db, staff.org, "viewer@venue.example", "viewer")
    staff.client.cookies.clear()
    login(staff.client, "viewer@venue.example")
    assert 'id="contact-edit"' not in staff.client.get(f"/manager/contacts/{ann}").text
    assert staff.post(f"/manager/contacts/{ann}/edit", {"first_name": "X"}).status_code == 403
    assert _row(staff, ann).first_name == "Ann"
