"""The set-at-a-time write helpers the apply path stands on, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from fanhub.audience.models import Contact
from fanhub.db.bulk import insert_returning_ids, insert_rows, update_by_id, values_in
from fanhub.db.engine import Database
from fanhub.organizations.service import create_organization


def _org(db: Database) -> int:
    with db.write() as session:
        return create_organization(session, "Bulk Venue").id


def test_values_in_matches_each_column_and_is_not_confused_by_the_statement_cache(db: Database) -> None:
    org = _org(db)
    rows = [{"organization_id": org, "email": f"fan{n}@example.com", "phone": f"+1303555{n:04d}"} for n in range(1200)]
    with db.write() as session:
        ids = insert_returning_ids(session, Contact, rows, key=("email",), scope={"organization_id": org})
    assert len(set(ids)) == 1200
    with db.read() as session:
        # Same statement shape, different column: each must be compiled for its own column.
        by_email = session.scalars(
            select(Contact.id).where(Contact.organization_id == org, values_in(Contact.email, ["fan7@example.com"]))
        ).all()
        by_phone = session.scalars(
            select(Contact.id).where(Contact.organization_id == org, values_in(Contact.phone, ["+13035550009"]))
        ).all()
        many = session.scalars(
            select(Contact.id).where(values_in(Contact.id, ids[100:1100] + [10**9]))  # more than one chunk
        ).all()
        none = session.scalars(select(Contact.id).where(values_in(Contact.email, []))).all()
    assert by_email == [ids[7]]
    assert by_phone == [ids[9]]
    assert sorted(many) == sorted(ids[100:1100])
    assert none == []


def test_insert_fills_python_defaults_and_update_sets_only_given_columns(db: Database) -> None:
    org = _org(db)
    seen_at = datetime(2024, 3, 2, 15, 30, tzinfo=UTC)
    with db.write() as session:
        # Rows with different key sets: a missing key gets NULL or the column default.
        insert_rows(
            session,
            Contact,
            [
                {"organization_id": org, "email": "a@example.com", "first_name": "Ada"},
                {"organization_id": org, "email": "b@example.com", "email_status_at": seen_at},
            ],
        )
    with db.write() as session:
        contacts = {c.email: c for c in session.scalars(select(Contact).where(Contact.organization_id == org))}
        assert contacts["a@example.com"].email_status == "unknown"  # default
        assert contacts["a@example.com"].created_at is not None  # callable default
        assert contacts["b@example.com"].first_name is None
        assert contacts["b@example.com"].email_status_at == seen_at
        a_id, b_id = contacts["a@example.com"].id, contacts["b@example.com"].id
        update_by_id(
            session,
            Contact,
            [
                {"id": a_id, "last_name": "Lovelace"},
                {"id": b_id, "first_name": "Bea", "last_name": "First"},
                {"id": b_id, "first_name": "Bea", "last_name": "Second"},  # later row for the same id wins
            ],
        )
    with db.read() as session:
        a, b = session.get_one(Contact, a_id), session.get_one(Contact, b_id)
        assert (a.first_name, a.last_name) == ("Ada", "Lovelace")
        assert (b.first_name, b.last_name) == ("Bea", "Second")
        assert b.email_status_at == seen_at


def test_refresh_statistics_analyses_tables_a_bulk_load_changed(db: Database) -> None:
    from fanhub.db.maintenance import refresh_statistics

    org = _org(db)
    with db.write() as session:
        insert_rows(session, Contact, [{"organization_id": org, "email": f"stats{n}@example.com"} for n in range(3000)])

    # Any change of 2,500 rows or more counts here (the defaults also weigh the table's size,
    # which earlier tests leave behind in the statistics).
    def refresh() -> list[str]:
        return refresh_statistics(db, ["contacts", "tags"], changed_share=0.0, min_changed_rows=2500)

    analysed = refresh()
    if db.is_sqlite:
        assert analysed == []  # SQLite's planner needs no statistics
        return
    # Statistics reach pg_stat_user_tables asynchronously: the 3,000 new contacts may take a moment.
    import time

    for _ in range(50):
        if analysed:
            break
        time.sleep(0.1)
        analysed = refresh()
    assert analysed == ["contacts"]  # tags did not change
    from sqlalchemy import text

    with db.read() as session:
        estimate = session.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'contacts'")).scalar_one()
    assert estimate >= 3000  # the planner now knows the table's size


def test_unindexed_organization_filter_looks_ids_up_by_primary_key(db: Database) -> None:
    """An organization's filter beside a list of ids: the same rows either way, and on SQLite the
    ids are looked up by primary key instead of walking the organization's index."""
    from typing import Any

    from sqlalchemy import event

    from fanhub.db.bulk import unindexed

    org, other = _org(db), _org(db)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with db.write() as session:
        rows = [
            {"organization_id": o, "email": f"u{i}@example.com", "created_at": now, "updated_at": now}
            for i, o in enumerate([org] * 30 + [other] * 5)
        ]
        insert_rows(session, Contact, rows)
    with db.read() as session:
        ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        wanted = ids[::3]
        plain = select(Contact.id).where(Contact.organization_id == org, Contact.id.in_(wanted)).order_by(Contact.id)
        guarded = select(Contact.id).where(values_in(Contact.id, wanted), unindexed(Contact.organization_id) == org)
        assert list(session.scalars(guarded.order_by(Contact.id))) == list(session.scalars(plain))
        assert 0 < len(list(session.scalars(plain))) < len(wanted)  # the other organization's ids are not found
        if session.get_bind().dialect.name == "sqlite":
            seen: list[tuple[str, Any]] = []
            connection = session.connection()
            listener = lambda *args: seen.append((args[2], args[3]))  # noqa: E731 (statement, parameters)
            event.listen(connection, "before_cursor_execute", listener)
            session.execute(guarded).all()
            event.remove(connection, "before_cursor_execute", listener)
            cursor = connection.connection.cursor()
            plan = " ".join(str(row[-1]) for row in cursor.execute(f"EXPLAIN QUERY PLAN {seen[-1][0]}", seen[-1][1]))
            assert "INTEGER PRIMARY KEY" in plan and "organization" not in plan, plan
