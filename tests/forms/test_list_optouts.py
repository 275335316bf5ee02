"""List opt-outs (issue 21): a list a person leaves on their preference center is remembered, so old
records naming it (a Partners API contact with `list_id`, a CSV import adding the list, a staff
change over a whole filter) do not put them back; the person joining again (the page, a signup form)
or staff adding them by name does, and clears it. Staff taking someone off a list records nothing.
Erasure deletes the person's opt-outs; the export lists them."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience.models import ContactList, ListOptOut
from fanhub.audience.service import create_list
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.imports import service as imports
from fanhub.privacy.erase import erase_contact
from fanhub.privacy.export import export_contact
from tests.campaigns.conftest import add_contact
from tests.conftest import Tenant, post_and_apply
from tests.forms.conftest import MakeForm
from tests.forms.test_forms_http import post_form
from tests.forms.test_preferences import _form, _tick, _url
from tests.manager.conftest import Staff
from tests.manager.test_imports import work_off


def _lists_of(db: Database, contact_id: int) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(ContactList.list_id).where(ContactList.contact_id == contact_id)))


def _optouts(db: Database, contact_id: int) -> list[tuple[int, str, datetime]]:
    with db.read() as session:
        rows = session.scalars(
            select(ListOptOut).where(ListOptOut.contact_id == contact_id).order_by(ListOptOut.list_id)
        )
        return [(r.list_id, r.via, r.at) for r in rows]


def _public_list(db: Database, org: int, name: str) -> int:
    with db.write() as session:
        return create_list(session, org, name, public=True).id


def _leave(client: TestClient, org: int, contact_id: int, list_id: int) -> None:
    url = _url(org, contact_id)
    data = _tick(_form(client.get(url).text), "list", str(list_id), on=False)
    assert client.post(url, data={**data, "action": "save"}).status_code == 200


def _join(client: TestClient, org: int, contact_id: int, list_id: int) -> None:
    url = _url(org, contact_id)
    data = _tick(_form(client.get(url).text), "list", str(list_id))
    assert client.post(url, data={**data, "action": "save"}).status_code == 200


def _import_with_list(db: Database, org: int, csv: bytes, list_id: int) -> None:
    with db.write() as session:
        item = imports.create_upload(session, org, "fans.csv", csv, "staff:7")
        public_id = item.public_id
        imports.configure_import(
            session, org, public_id, mode="dont_change", mapping=dict(item.mapping), list_ids=[list_id]
        )
    work_off(db, public_id)


def test_a_list_left_on_the_page_is_not_rejoined_by_the_api_or_an_import(
    client: TestClient, db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    org = tenant.organization_id
    news = _public_list(db, org, "News")
    other = _public_list(db, org, "Presale")
    ann = add_contact(client, db, tenant, "ann@example.com", list_id=news)
    bob = add_contact(client, db, tenant, "bob@example.com")
    assert _lists_of(db, ann) == {news}

    _leave(client, org, ann, news)
    assert _lists_of(db, ann) == set()
    assert [(list_id, via) for list_id, via, _ in _optouts(db, ann)] == [(news, "preference_center")]

    # A Partners API contact naming the list, and a CSV import adding it: ann stays out, bob joins.
    add_contact(client, db, tenant, "ann@example.com", list_id=news)
    _import_with_list(db, org, b"email\nann@example.com\nbob@example.com\n", news)
    assert _lists_of(db, ann) == set() and _lists_of(db, bob) == {news}
    # The opt-out is about that list only.
    add_contact(client, db, tenant, "ann@example.com", list_id=other)
    assert _lists_of(db, ann) == {other}

    # Joining again on the page is the person's choice: in again, the opt-out gone, and old records
    # naming the list no longer matter.
    _join(client, org, ann, news)
    assert _lists_of(db, ann) == {news, other} and _optouts(db, ann) == []

    # Left again, then a signup form naming the list: the person asked, so they are in again.
    _leave(client, org, ann, news)
    assert [list_id for list_id, _, _ in _optouts(db, ann)] == [news]
    form = make_form(list_ids=[news])
    assert post_form(client, form.key, {"email": "ann@example.com"}).status_code == 303
    assert news in _lists_of(db, ann) and _optouts(db, ann) == []


def test_staff_removal_records_nothing_staff_by_name_clears_a_filter_skips(staff: Staff, forms_env: Settings) -> None:
    client, db, tenant, org = staff.client, staff.db, staff.tenant, staff.org
    news = _public_list(db, org, "News")
    ann = add_contact(client, db, tenant, "ann@example.com", list_id=news)
    bob = add_contact(client, db, tenant, "bob@example.com", list_id=news)

    # Staff taking bob off the list is not bob's choice: an old record may put him back.
    removed = staff.post(f"/manager/contacts/{bob}/labels/remove", {"label": f"list:{news}"})
    assert removed.status_code == 303 and _lists_of(db, bob) == set() and _optouts(db, bob) == []
    post_and_apply(client, db, tenant, "contact", {"contact": {"email": "bob@example.com", "list_id": news}})
    assert _lists_of(db, bob) == {news}

    # Ann leaves; a change over every contact matching a filter names nobody: she is skipped, and
    # the confirmation counts only who will change.
    _leave(client, org, ann, news)
    carl = add_contact(client, db, tenant, "carl@example.com")
    form: dict[str, object] = {"scope": "matching", "q": "example.com", "bulk_target": f"list:{news}"}
    preview = staff.post("/manager/contacts/bulk", form)
    assert "1 of them will change" in preview.text
    staff.post("/manager/contacts/bulk", {**form, "confirm": "yes"})
    assert _lists_of(db, ann) == set() and _lists_of(db, carl) == {news}
    assert [list_id for list_id, _, _ in _optouts(db, ann)] == [news]

    # Staff adding ann by name is explicit: she is added and her opt-out cleared.
    done = staff.post("/manager/contacts/bulk", {"contact_id": [ann], "bulk_target": f"list:{news}"})
    assert done.status_code == 303 and _lists_of(db, ann) == {news} and _optouts(db, ann) == []


def test_erasure_deletes_the_opt_outs_and_the_export_lists_them(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    news = _public_list(db, org, "News")
    ann = add_contact(client, db, tenant, "ann@example.com", list_id=news)
    bob = add_contact(client, db, tenant, "bob@example.com", list_id=news)
    _leave(client, org, ann, news)
    _leave(client, org, bob, news)
    ((_, _, left_at),) = _optouts(db, ann)
    with db.write() as session:
        document = export_contact(session, org, ann, "staff:1")
    assert document["list_optouts"] == [
        {"list_id": news, "list": "News", "at": left_at.isoformat().replace("+00:00", "Z"), "via": "preference_center"}
    ]
    with db.write() as session:
        counts = erase_contact(session, org, ann, "staff:1")
    assert counts["list_optouts"] == 1
    assert _optouts(db, ann) == [] and len(_optouts(db, bob)) == 1  # only the erased person's
    with db.write() as session:
        assert export_contact(session, org, ann, "staff:1")["list_optouts"] == []
