"""`tag_added` / `list_joined` flows fire for tags and lists added by staff and assistants too (issue
20): the manager's bulk action (a selection, or a whole filter batch by batch), MCP `tag_contacts`.
Exactly the contacts that gained the label enter, once; those that already had it do not; an undo
takes nobody out; the reentry rules hold."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.campaigns.conftest import add_contact
from tests.conftest import Tenant
from tests.flows.core_helpers import document, enrollments, make_flow
from tests.manager.conftest import Staff, staff  # noqa: F401
from tests.mcp.conftest import http_client, http_server, seeded  # noqa: F401
from tests.mcp.scenario import ok
from tests.mcp.seed import Seeded

from fanhub.audience.bulk_labels import change_labels_matching, undo_label_change
from fanhub.audience.labels import LIST, TAG
from fanhub.audience.models import ContactTag
from fanhub.audience.queries import ContactFilter
from fanhub.audience.service import create_list, create_tag
from fanhub.auth.actor import Actor
from fanhub.db.base import utcnow
from fanhub.db.engine import Database


def _labels(db: Database, organization_id: int) -> tuple[int, int, int]:
    """Tags VIP and Other, list Newsletter."""
    with db.write() as session:
        vip = create_tag(session, organization_id, "VIP").id
        other = create_tag(session, organization_id, "Other").id
        newsletter = create_list(session, organization_id, "Newsletter").id
    return vip, other, newsletter


def _entered(db: Database, flow_id: int) -> list[int]:
    return sorted(e.contact_id for e in enrollments(db, flow_id))


def _tagged(db: Database, tag_id: int) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(ContactTag.contact_id).where(ContactTag.tag_id == tag_id)))


def test_manager_bulk_tag_over_a_filter_enrolls_those_that_gained_it_once(staff: Staff) -> None:  # noqa: F811
    client, db, tenant, org = staff.client, staff.db, staff.tenant, staff.org
    vip, _, _ = _labels(db, org)
    had = add_contact(client, db, tenant, "had@example.com", tags=["VIP"])  # carried VIP before
    fans = [add_contact(client, db, tenant, f"fan{n}@example.com") for n in range(4)]
    once = make_flow(db, org, document({"type": "tag_added", "tag": "VIP"}), at=utcnow())
    each = make_flow(db, org, document({"type": "tag_added", "tag": "VIP"}, reentry="per_trigger"), at=utcnow())
    form: dict[str, object] = {"scope": "matching", "q": "example.com", "bulk_target": f"tag:{vip}", "confirm": "yes"}

    done = staff.post("/manager/contacts/bulk", form)
    assert done.status_code == 303
    assert "Tagged 4 contact(s) with VIP." in client.get(done.headers["location"]).text
    assert _tagged(db, vip) == {had, *fans}
    assert _entered(db, once) == sorted(fans) and _entered(db, each) == sorted(fans)  # not `had`

    # The same change again changes nobody, so nobody enters again, whatever the reentry.
    staff.post("/manager/contacts/bulk", form)
    assert _entered(db, once) == sorted(fans) and _entered(db, each) == sorted(fans)

    # Undoing a selection's tag takes nobody out of a flow; tagging again is a new addition:
    # `per_trigger` lets the contact in again, `never` (the default) does not.
    selection = {"contact_id": fans[:2], "bulk_target": f"untag:{vip}"}
    assert staff.post("/manager/contacts/bulk", selection).status_code == 303
    assert _entered(db, once) == sorted(fans)
    staff.post("/manager/contacts/bulk", {"contact_id": fans[:2], "bulk_target": f"tag:{vip}"})
    assert _entered(db, once) == sorted(fans)
    assert _entered(db, each) == sorted([*fans, *fans[:2]])


def test_manager_bulk_list_selection_fires_list_joined(staff: Staff) -> None:  # noqa: F811
    client, db, tenant, org = staff.client, staff.db, staff.tenant, staff.org
    _, _, newsletter = _labels(db, org)
    member = add_contact(client, db, tenant, "member@example.com", list_id=newsletter)
    ann = add_contact(client, db, tenant, "ann@example.com")
    joined = make_flow(db, org, document({"type": "list_joined", "list_id": newsletter}), at=utcnow())
    done = staff.post("/manager/contacts/bulk", {"contact_id": [member, ann], "bulk_target": f"list:{newsletter}"})
    assert "Added 1 contact(s) to Newsletter." in client.get(done.headers["location"]).text
    assert _entered(db, joined) == [ann]


def test_a_filter_change_in_many_batches_enrolls_each_contact_once_and_undo_keeps_them(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    vip, _, newsletter = _labels(db, org)
    ids = [add_contact(client, db, tenant, f"p{n:02d}@example.com") for n in range(11)]
    already = ids[4:6]
    with db.write() as session:
        session.add_all([ContactTag(contact_id=i, tag_id=vip) for i in already])
    tag_flow = make_flow(db, org, document({"type": "tag_added", "tag": "VIP"}), at=utcnow())
    other_flow = make_flow(db, org, document({"type": "tag_added", "tag": "Other"}), at=utcnow())
    list_flow = make_flow(db, org, document({"type": "list_joined", "list_id": newsletter}), at=utcnow())
    actor = Actor.cli(org)
    everyone = ContactFilter()

    change = change_labels_matching(db, actor, TAG, vip, everyone, add=True, batch=3)  # four batches
    gained = sorted(set(ids) - set(already))
    assert change.changed == len(gained)
    assert _entered(db, tag_flow) == gained
    assert _entered(db, other_flow) == []  # another tag's flow is not concerned
    listed = change_labels_matching(db, actor, LIST, newsletter, everyone, add=True, batch=4)
    assert listed.changed == len(ids) and _entered(db, list_flow) == ids

    assert change.change_id is not None
    undo_label_change(db, actor, change.change_id, batch=3)
    assert _tagged(db, vip) == set(already)
    assert _entered(db, tag_flow) == gained  # an undo does not un-enroll
    # Removing a tag (and undoing a removal) is not an addition: nobody enters.
    removal = change_labels_matching(db, actor, TAG, vip, everyone, add=False, batch=3)
    assert removal.change_id is not None
    undo_label_change(db, actor, removal.change_id, batch=3)
    assert _tagged(db, vip) == set(already) and _entered(db, tag_flow) == gained


def test_mcp_tag_contacts_enrolls_those_that_gained_the_tag(
    seeded: Seeded,  # noqa: F811
    http_server: str,  # noqa: F811
    db: Database,
) -> None:
    s = seeded
    once = make_flow(db, s.org_a, document({"type": "tag_added", "tag": "VIP"}), at=utcnow())
    each = make_flow(db, s.org_a, document({"type": "tag_added", "tag": "VIP"}, reentry="per_trigger"), at=utcnow())

    async def main() -> list[dict[str, Any]]:
        async with http_client(http_server, s.write_token) as client:
            results = [await ok(client, "tag_contacts", {"contact_ids": [s.john], "tag": "VIP"})]
            results.append(await ok(client, "tag_contacts", {"contact_ids": [s.john, s.mary], "tag": "VIP"}))
            assert _entered(db, once) == sorted([s.john, s.mary])  # john only once: he had it already
            results.append(await ok(client, "untag_contacts", {"contact_ids": [s.mary], "tag": "VIP"}))
            results.append(await ok(client, "tag_contacts", {"contact_ids": [s.mary], "tag": "VIP"}))
            return results

    results = anyio.run(main)
    assert [r["changed"] for r in results] == [1, 1, 1, 1]
    assert _entered(db, once) == sorted([s.john, s.mary])  # `never`: mary passes once
    assert _entered(db, each) == sorted([s.john, s.mary, s.mary])  # `per_trigger`: tagged twice, twice
    assert all(e.context == {"tag": e.context["tag"]} for e in enrollments(db, each))
