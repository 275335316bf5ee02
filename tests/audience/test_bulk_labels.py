"""A tag or list on every contact matching a filter, and undoing label changes (audience/bulk_labels.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from fanhub.audience.bulk_labels import (
    change_labels_matching,
    get_label_change,
    preview_matching_change,
    undo_label_change,
)
from fanhub.audience.consent import EMAIL, ConsentChange
from fanhub.audience.labels import LIST, TAG, change_labels
from fanhub.audience.models import ConsentEvent, Contact, ContactList, ContactTag, LabelChangeLog
from fanhub.audience.queries import ContactFilter
from fanhub.audience.service import AudienceWriter, Person, change_consent, create_list, create_tag
from fanhub.auth.actor import Actor
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations.audit import AuditEntry
from tests.conftest import make_tenant


def _people(db: Database, org: int, prefix: str, count: int) -> list[int]:
    with db.write() as session:
        writer = AudienceWriter(session, org, "test")
        rows = writer.resolve([Person(email=f"{prefix}{n}@example.com") for n in range(count)])
        writer.flush()
        return sorted(int(r.id) for r in rows if r.id is not None)


@dataclass
class Venue:
    org: int
    people: list[int]
    fans: list[int]  # on the list "Fans": the filter the tests change
    vip: int
    fans_list: int
    other_org: int
    other_people: list[int]
    other_vip: int

    def fan_filter(self) -> ContactFilter:
        return ContactFilter(list_id=self.fans_list)


@pytest.fixture
def venue(db: Database) -> Venue:
    org, other = make_tenant(db, "Ours", "a").organization_id, make_tenant(db, "Theirs", "b").organization_id
    people, other_people = _people(db, org, "p", 30), _people(db, other, "p", 10)
    fans = people[:20]
    with db.write() as session:
        vip, fans_list = create_tag(session, org, "VIP").id, create_list(session, org, "Fans").id
        other_vip = create_tag(session, other, "VIP").id
        writer = AudienceWriter(session, org, "test")
        writer.add_lists([(c, fans_list) for c in fans])
        # Five fans and one non-fan are VIP already; the other organization's people all are.
        writer.add_tags([(c, vip) for c in [*fans[:5], people[25]]])
        AudienceWriter(session, other, "test").add_tags([(c, other_vip) for c in other_people])
        for contact_id in people[:3]:
            change = ConsentChange(EMAIL, True, "test", "test", utcnow())
            change_consent(session, org, contact_id, change)
    return Venue(org, people, fans, vip, fans_list, other, other_people, other_vip)


def _tagged(db: Database, tag_id: int) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(ContactTag.contact_id).where(ContactTag.tag_id == tag_id)))


def _listed(db: Database, list_id: int) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(ContactList.contact_id).where(ContactList.list_id == list_id)))


def _consent_state(db: Database) -> tuple[list[tuple[int, str, str]], int]:
    with db.read() as session:
        states = [(c.id, c.email_status, c.sms_status) for c in session.scalars(select(Contact).order_by(Contact.id))]
        return states, len(list(session.scalars(select(ConsentEvent.id))))


def _marketer(venue: Venue) -> Actor:
    return Actor.staff(venue.org, 1, "marketer")


def test_tagging_every_match_changes_only_those_without_the_tag_in_batches(db: Database, venue: Venue) -> None:
    marketer = _marketer(venue)
    consent_before = _consent_state(db)
    with db.read() as session:
        preview = preview_matching_change(session, marketer, TAG, venue.vip, venue.fan_filter(), True)
    assert (preview.matching, preview.changing, preview.name) == (20, 15, "VIP")

    change = change_labels_matching(db, marketer, TAG, venue.vip, venue.fan_filter(), True, batch=7)

    assert change.changed == 15 and change.change_id is not None
    assert _tagged(db, venue.vip) == {*venue.fans, venue.people[25]}
    assert _tagged(db, venue.other_vip) == set(venue.other_people)  # the other organization untouched
    assert _consent_state(db) == consent_before
    with db.read() as session:
        log = session.get(LabelChangeLog, change.change_id)
        assert log is not None and (log.status, log.contacts, log.scope) == ("done", 15, "filter")
        view = get_label_change(session, venue.org, change.change_id)
        assert view is not None and view.undoable and view.contacts == 15
        assert get_label_change(session, venue.other_org, change.change_id) is None
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "labels.bulk")))
    assert [(e.actor, e.details["contacts"], e.details["filter"]) for e in entries] == [
        ("staff:1", 15, {"list": str(venue.fans_list)})
    ]


def test_undo_of_an_add_removes_the_tag_only_where_it_was_added_and_only_once(db: Database, venue: Venue) -> None:
    marketer = _marketer(venue)
    before = _tagged(db, venue.vip)
    consent_before = _consent_state(db)
    change = change_labels_matching(db, marketer, TAG, venue.vip, venue.fan_filter(), True, batch=4)
    assert change.change_id is not None

    undone = undo_label_change(db, marketer, change.change_id, batch=4)

    assert (undone.changed, undone.added) == (15, False)
    assert _tagged(db, venue.vip) == before  # the five fans who were VIP before still are
    assert _consent_state(db) == consent_before
    with pytest.raises(InvalidInput, match="already undone"):
        undo_label_change(db, marketer, change.change_id)
    with db.read() as session:
        view = get_label_change(session, venue.org, change.change_id)
        assert view is not None and not view.undoable
        undo_entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "labels.undo")))
    assert [(e.actor, e.details["contacts"], e.details["change"]) for e in undo_entries] == [
        ("staff:1", 15, change.change_id)
    ]


def test_removing_from_a_list_for_every_match_and_putting_exactly_those_back(db: Database, venue: Venue) -> None:
    marketer = _marketer(venue)
    # Contacts tagged VIP: five fans and one non-fan; take the VIPs off the Fans list.
    vip_filter = ContactFilter(tag_id=venue.vip)
    with db.read() as session:
        preview = preview_matching_change(session, marketer, LIST, venue.fans_list, vip_filter, False)
    assert (preview.matching, preview.changing) == (6, 5)

    change = change_labels_matching(db, marketer, LIST, venue.fans_list, vip_filter, False, batch=2)

    assert change.changed == 5 and change.change_id is not None
    assert _listed(db, venue.fans_list) == set(venue.fans[5:])
    undo_label_change(db, marketer, change.change_id)
    assert _listed(db, venue.fans_list) == set(venue.fans)  # not the non-fan VIP, who was never on it


def test_an_explicit_selection_is_undoable_too(db: Database, venue: Venue) -> None:
    marketer = _marketer(venue)
    chosen = [venue.fans[0], venue.people[22], venue.people[23]]  # the first fan is VIP already
    with db.write() as session:
        change = change_labels(session, marketer, TAG, venue.vip, chosen, add=True)
    assert change.changed == 2 and change.change_id is not None
    undone = undo_label_change(db, marketer, change.change_id)
    assert undone.changed == 2 and _tagged(db, venue.vip) == {*venue.fans[:5], venue.people[25]}
    with db.write() as session:  # nothing changed, nothing to undo
        again = change_labels(session, marketer, TAG, venue.vip, [venue.fans[0]], add=True)
    assert (again.changed, again.change_id) == (0, None)


def test_refusals_read_only_actor_other_organization_and_unknown_tag(db: Database, venue: Venue) -> None:
    marketer, viewer = _marketer(venue), Actor.staff(venue.org, 2, "viewer")
    read_only_key = Actor.mcp(venue.org, 7, frozenset({"mcp:read"}))
    for actor in (viewer, read_only_key):
        with pytest.raises(NotFound):
            change_labels_matching(db, actor, TAG, venue.vip, venue.fan_filter(), True)
    assert _tagged(db, venue.vip) == {*venue.fans[:5], venue.people[25]}
    with pytest.raises(NotFound):  # another organization's tag
        change_labels_matching(db, marketer, TAG, venue.other_vip, ContactFilter(), True)
    change = change_labels_matching(db, marketer, TAG, venue.vip, venue.fan_filter(), True)
    assert change.change_id is not None
    stranger = Actor.staff(venue.other_org, 9, "admin")
    for actor in (viewer, stranger):
        with pytest.raises(NotFound):
            undo_label_change(db, actor, change.change_id)
    assert len(_tagged(db, venue.vip)) == 21  # still applied: the refused undos changed nothing
    with db.read() as session:
        log = session.get(LabelChangeLog, change.change_id)
        assert log is not None and log.undone_at is None


def test_a_change_still_running_cannot_be_undone_and_an_empty_filter_changes_nothing(
    db: Database, venue: Venue
) -> None:
    marketer = _marketer(venue)
    nobody = change_labels_matching(db, marketer, TAG, venue.vip, ContactFilter(q="no such person"), True)
    assert (nobody.changed, nobody.change_id) == (0, None)
    change = change_labels_matching(db, marketer, TAG, venue.vip, venue.fan_filter(), True)
    assert change.change_id is not None
    with db.write() as session:  # as seen by an undo arriving while the batches still run
        log = session.get(LabelChangeLog, change.change_id)
        assert log is not None
        log.status = "running"
    with pytest.raises(InvalidInput, match="still being applied"):
        undo_label_change(db, marketer, change.change_id)
