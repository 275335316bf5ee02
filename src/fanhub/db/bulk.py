"""Set-at-a-time writes through SQLAlchemy Core for the hot apply paths.

The ORM's bulk helpers track objects in the session, which costs more than the SQL itself when a
batch writes thousands of rows; these go straight to `executemany` on the session's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(_table(model)), list(rows))


def insert_returning_ids(session: Session, model: Any, rows: Sequence[dict[str, Any]], key: Sequence[str]) -> list[int]:
    """Insert rows and return their new ids in the order of `rows`; `key` columns identify each row.

    The ids come back by natural key rather than by position: asking SQLAlchemy to keep parameter
    order makes SQLite insert row by row, while this stays one multi-row INSERT … RETURNING.
    """
    if not rows:
        return []
    table = _table(model)
    columns = [table.c[name] for name in key]
    result = session.connection().execute(insert(table).returning(table.c.id, *columns), list(rows))
    ids = {tuple(row[1:]): int(row[0]) for row in result}
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
