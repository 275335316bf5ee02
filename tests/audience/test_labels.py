"""Tags and lists on contacts follow one rule through every front door (audience/labels.py)."""

from __future__ import annotations

import pytest

from fanhub.audience.labels import LIST, MAX_CONTACTS, TAG, change_labels
from fanhub.audience.models import ContactTag
from fanhub.audience.service import AudienceWriter, Person, create_list, create_tag
from fanhub.auth.actor import Actor
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from tests.conftest import make_tenant


def _people(db: Database, org: int, *emails: str) -> list[int]:
    with db.write() as session:
        writer = AudienceWriter(session, org, "test")
        rows = writer.resolve([Person(email=e) for e in emails])
        writer.flush()
        return [int(r.id) for r in rows if r.id is not None]


def test_the_rule(db: Database) -> None:
    ours, theirs = make_tenant(db, "Ours", "a").organization_id, make_tenant(db, "Theirs", "b").organization_id
    ann, bob = _people(db, ours, "ann@example.com", "bob@example.com")
    (eve,) = _people(db, theirs, "eve@example.com")
    with db.write() as session:
        vip, newsletter = create_tag(session, ours, "VIP").id, create_list(session, ours, "News").id
        their_tag = create_tag(session, theirs, "VIP").id
    marketer, viewer = Actor.staff(ours, 1, "marketer"), Actor.staff(ours, 2, "viewer")
    with db.write() as session:
        first = change_labels(session, marketer, TAG, vip, [ann, ann, bob], add=True)
        again = change_labels(session, marketer, TAG, vip, [ann], add=True)
        listed = change_labels(session, marketer, LIST, newsletter, [bob], add=True)
    assert (first.changed, first.contact_ids, again.changed, listed.changed) == (2, sorted([ann, bob]), 0, 1)
    # Another organization's contact: refused whole, naming it; nothing changed.
    with pytest.raises(InvalidInput, match=f"contacts not found: {eve}"), db.write() as session:
        change_labels(session, marketer, TAG, vip, [ann, eve], add=False)
    with pytest.raises(NotFound), db.write() as session:  # another organization's tag
        change_labels(session, marketer, TAG, their_tag, [ann], add=True)
    with pytest.raises(NotFound), db.write() as session:  # a viewer may not change labels
        change_labels(session, viewer, TAG, vip, [ann], add=True)
    with pytest.raises(InvalidInput, match=f"at most {MAX_CONTACTS}"), db.write() as session:
        change_labels(session, marketer, TAG, vip, list(range(1, MAX_CONTACTS + 2)), add=True)
    with db.write() as session:
        removed = change_labels(session, marketer, TAG, vip, [ann, bob], add=False)
        assert removed.changed == 2 and session.query(ContactTag).count() == 0


def test_actor_audit_strings() -> None:
    assert Actor.partner(1, 5, "acme", frozenset({"partners"})).audit == "partner:acme"
    assert Actor.staff(1, 3, "admin").audit == "staff:3"
    assert Actor.mcp(1, 7, frozenset({"mcp:read"})).audit == "mcp:key:7"
    assert Actor.mcp(1, None, frozenset({"mcp:read", "mcp:write"})).audit == "mcp:stdio"
    assert Actor.cli(1).audit == "cli"
    assert not Actor.mcp(1, 7, frozenset({"mcp:read"})).can("write")
