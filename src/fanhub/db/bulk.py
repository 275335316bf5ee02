"""Set-at-a-time writes through SQLAlchemy Core for the hot apply paths.

The ORM's bulk helpers track objects in the session, which costs more than the SQL itself when a
batch writes thousands of rows; these go straight to `executemany` on the session's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(_table(model)), list(rows))


def insert_returning_ids(
    session: Session, model: Any, rows: Sequence[dict[str, Any]], key: Sequence[str], scope: dict[str, Any]
) -> list[int]:
    """Insert rows and return their new ids in the order of `rows`.

    The rows go in with the driver's own `executemany` and their ids are read back by natural key
    (`key` columns, unique within `scope`, e.g. organization and source): one cached statement per
    table instead of multi-row INSERT … RETURNING texts that differ every time, which both sqlite3
    and psycopg would otherwise have to parse again for every batch.
    """
    if not rows:
        return []
    insert_rows(session, model, rows)
    table = _table(model)
    ids: dict[tuple[Any, ...], int] = {}
    conditions = [table.c[name] == value for name, value in scope.items()]
    for name in key:
        values = sorted({row[name] for row in rows if row.get(name) is not None})
        for start in range(0, len(values), 500):
            query = select(table.c.id, *(table.c[k] for k in key)).where(
                *conditions, table.c[name].in_(values[start : start + 500])
            )
            for row in session.connection().execute(query):
                ids[tuple(row[1:])] = int(row[0])
    return [ids[tuple(row.get(name) for name in key)] for row in rows]


def update_by_id(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by primary key; each dict holds "id" plus the columns to set (key sets may differ)."""
    table = _table(model)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        columns = tuple(sorted(k for k in row if k != "id"))
        groups.setdefault(columns, []).append({"_id": row["id"], **{f"_{k}": row[k] for k in columns}})
    for columns, params in groups.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({column: bindparam(f"_{column}") for column in columns})
        )
        session.connection().execute(statement, params)
