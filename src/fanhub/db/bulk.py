"""Set-at-a-time writes for the hot apply paths, straight to the driver's `executemany`.

Applying a 500-order batch writes a few thousand rows. Going through SQLAlchemy Core per row
(compiling, building a parameter dict and running type processors per row) cost more than the
SQL itself, so these helpers build each statement's text once per (table, columns, dialect), run
the columns' own bind processors (UTC datetimes, JSON) in one tight loop, and hand plain tuples to
the driver: sqlite3's `executemany`, or psycopg's pipelined one. Python-side column defaults
(`created_at=utcnow`, ...) are filled in as SQLAlchemy would.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, Table, TypeDecorator, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean, Text, TypeEngine

# SQLite binds at most 32,766 parameters per statement: stay well below with multi-row VALUES.
_MAX_PARAMETERS = 30_000
_MAX_ROWS = 500


class _ValueList(TypeDecorator[list[Any]]):
    """A list bound as one parameter: a JSON array for SQLite's json_each, an array for PostgreSQL."""

    impl = Text
    cache_ok = True

    def __init__(self, item_type: TypeEngine[Any]) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item_type))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> Any:
        return json.dumps(value) if dialect.name == "sqlite" else value


class values_in(ColumnElement[bool]):  # noqa: N801  (reads as a function at call sites)
    """`column IN (values)` with the values in one bound parameter.

    An ordinary IN list renders one placeholder per value, so every batch compiles a new
    statement (and SQLAlchemy spends more time rendering it than the database spends running
    it); on SQLite this one is compiled once, `IN (SELECT value FROM json_each(?))`.
    """

    inherit_cache = True
    type = Boolean()
    # A predicate in its own right: without this SQLite would get `… IN (…) = 1`, which its
    # planner cannot turn into index probes.
    _is_implicitly_boolean = True
    # Part of the statement cache key: the column is; the values are only a bound parameter.
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
        ("expanding", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, values: Iterable[Any]) -> None:
        self.column: ColumnElement[Any] = column
        listed = list(values)
        self.values = bindparam(None, listed, type_=_ValueList(column.type))
        self.expanding: BindParameter[Any] = bindparam(None, listed, expanding=True)


@compiles(values_in, "sqlite")
def _values_in_sqlite(element: values_in, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IN (SELECT value FROM json_each({compiler.process(element.values, **kw)}))"


@compiles(values_in)
def _values_in_default(element: values_in, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL keeps the plain IN list: with `= ANY(array)` or a join on `unnest(array)`, a table
    # not analysed yet (a first backfill) got plans that compared every row of the organization
    # with every id (0.3-0.5 s a lookup); an IN list becomes an index condition on the unique key.
    return str(compiler.process(element.column.in_(element.expanding), **kw))


class unindexed(ColumnElement[Any]):  # noqa: N801  (reads as a function at call sites)
    """A column SQLite's planner may not use an index for (`+column`, its documented way to take a
    WHERE term out of index selection); the plain column elsewhere. For an organization's filter
    beside a list of ids: without statistics SQLite takes an equality on an indexed column for
    about ten rows and walked every order of the organization for each 500-id batch (ingest's
    order_placed hook: 10 ms a batch at 100k orders, growing with the table) instead of looking
    the ids up by primary key."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any) -> None:
        self.column: ColumnElement[Any] = column
        self.type = column.type


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


@dataclass(frozen=True)
class _Statement:
    sql: str
    # Per parameter position: the column, its bind processor, and its default. The first `given`
    # columns are read from the rows (the default only fills a row that lacks the key); the rest
    # are columns the rows leave out, filled from their defaults.
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[_Default | None, ...]
    given: int
    # SQLite only: the statement for n rows at once, `{rows}` standing for n copies of `group`.
    multirow: str | None
    group: str

    def for_rows(self, count: int) -> str:
        assert self.multirow is not None
        key = (self.multirow, self.group, count)
        text = _multirow_texts.get(key)
        if text is None:
            text = self.multirow.replace("{rows}", ", ".join([self.group] * count))
            _multirow_texts[key] = text
        return text


_statements: dict[tuple[str, str, tuple[str, ...], str], _Statement] = {}
_multirow_texts: dict[tuple[str, str, int], str] = {}


def _placeholder(dialect: Dialect, column: Column[Any]) -> str:
    if dialect.paramstyle == "qmark":
        return "?"
    # PostgreSQL: psycopg sends str parameters untyped; JSON columns need the cast said out loud.
    return "%s::JSON" if isinstance(column.type, JSON) else "%s"


@dataclass(frozen=True)
class _Default:
    """A column's Python-side default, for the columns a statement's rows leave out."""

    make: Callable[[], Any]
    # A timestamp is taken once per statement (one transaction, one instant); anything else,
    # such as a generated identifier, once per row.
    per_statement: bool

    def values(self, count: int) -> list[Any]:
        if self.per_statement:
            return [self.make()] * count
        return [self.make() for _ in range(count)]


def _default(column: Column[Any]) -> _Default | None:
    default = column.default
    if default is None or not (default.is_scalar or default.is_callable):  # type: ignore[attr-defined]
        return None
    if default.is_scalar:  # type: ignore[attr-defined]
        value = default.arg  # type: ignore[attr-defined]
        return _Default(lambda: value, per_statement=True)
    function = default.arg  # type: ignore[attr-defined]
    try:
        timestamp = column.type.python_type is datetime
    except NotImplementedError:
        timestamp = False
    # SQLAlchemy wraps zero-argument callables as f(context); none of ours reads the context.
    return _Default(lambda: function(None), per_statement=timestamp)


def _bind_processor(dialect: Dialect, column: Column[Any]) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _insert_statement(dialect: Dialect, table: Table, given: tuple[str, ...]) -> _Statement:
    cache_key = ("insert", table.name, given, dialect.name)
    statement = _statements.get(cache_key)
    if statement is None:
        defaulted = tuple(c.name for c in table.columns if c.name not in given and _default(c) is not None)
        names = given + defaulted
        columns = [table.c[name] for name in names]
        quote = dialect.identifier_preparer.quote
        prefix = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES "
        group = f"({', '.join(_placeholder(dialect, c) for c in columns)})"
        statement = _Statement(
            prefix + group,
            names,
            tuple(_bind_processor(dialect, c) for c in columns),
            tuple(_default(c) for c in columns),
            len(given),
            prefix + "{rows}" if dialect.name == "sqlite" else None,
            group,
        )
        _statements[cache_key] = statement
    return statement


def _upsert_statement(
    dialect: Dialect, table: Table, given: tuple[str, ...], conflict: tuple[str, ...], assignments: tuple[str, ...]
) -> _Statement:
    cache_key = ("upsert", table.name, given + ("|",) + conflict + ("|",) + assignments, dialect.name)
    statement = _statements.get(cache_key)
    if statement is None:
        insert = _insert_statement(dialect, table, given)
        quote = dialect.identifier_preparer.quote
        tail = f" ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO UPDATE SET {', '.join(assignments)}"
        statement = _Statement(
            insert.sql + tail,
            insert.keys,
            insert.processors,
            insert.defaults,
            insert.given,
            insert.multirow + tail if insert.multirow is not None else None,
            insert.group,
        )
        _statements[cache_key] = statement
    return statement


def _update_statement(dialect: Dialect, table: Table, given: tuple[str, ...]) -> _Statement:
    cache_key = ("update", table.name, given, dialect.name)
    statement = _statements.get(cache_key)
    if statement is None:
        columns = [table.c[name] for name in given]
        quote = dialect.identifier_preparer.quote
        assignments = ", ".join(f"{quote(c.name)} = {_placeholder(dialect, c)}" for c in columns)
        sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE id = {_placeholder(dialect, table.c.id)}"
        keys = (*given, "id")
        # SQLite names the VALUES columns column1..columnN, in `keys` order (the id last).
        from_values = ", ".join(f"{quote(name)} = v.column{n}" for n, name in enumerate(given, start=1))
        multirow = (
            f"UPDATE {quote(table.name)} SET {from_values} FROM (VALUES {{rows}}) AS v "
            f"WHERE {quote(table.name)}.id = v.column{len(keys)}"
        )
        statement = _Statement(
            sql,
            keys,
            tuple(_bind_processor(dialect, table.c[name]) for name in keys),
            tuple(None for _ in keys),
            len(keys),
            multirow if dialect.name == "sqlite" else None,
            f"({', '.join(_placeholder(dialect, table.c[name]) for name in keys)})",
        )
        _statements[cache_key] = statement
    return statement


def _execute_many(connection: Connection, statement: _Statement, rows: Sequence[dict[str, Any]]) -> None:
    # Column by column: C-level itemgetter and zip beat building each row in Python, and a batch
    # repeats its values (one `now`, one order time, one currency), so each column's processor
    # runs once per distinct value.
    given = statement.keys[: statement.given]
    columns: list[list[Any]] | None = None
    if len(given) > 1 and all(len(row) == len(given) for row in rows):
        with contextlib.suppress(KeyError):  # same length, other keys: the general case below
            columns = [list(column) for column in zip(*map(itemgetter(*given), rows), strict=True)]
    if columns is None:
        columns = []
        for key, default in zip(given, statement.defaults, strict=False):
            if default is None:
                columns.append([row.get(key) for row in rows])
            else:
                columns.append([row[key] if key in row else default.make() for row in rows])
    for default in statement.defaults[statement.given :]:
        assert default is not None
        columns.append(default.values(len(rows)))
    for position, processor in enumerate(statement.processors):
        if processor is not None:
            columns[position] = _processed(processor, columns[position])
    params = list(zip(*columns, strict=True))
    if len(params) == 1 or statement.multirow is None:
        # PostgreSQL: psycopg pipelines an executemany. (Multi-row texts were slower there: psycopg
        # re-parses a long query's placeholders in Python on every call instead of caching it.)
        connection.exec_driver_sql(statement.sql, params)
        return
    # SQLite: a few multi-row statements rather than one step per row. Each step releases the GIL
    # and must win it back, so a per-row executemany in the worker thread waited out the API
    # threads' switch interval hundreds of times per batch.
    per_statement = max(1, min(_MAX_ROWS, _MAX_PARAMETERS // len(statement.keys)))
    for start in range(0, len(params), per_statement):
        chunk = params[start : start + per_statement]
        connection.exec_driver_sql(statement.for_rows(len(chunk)), tuple(itertools.chain.from_iterable(chunk)))


def _processed(processor: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    done: dict[Any, Any] = {None: None}
    try:
        for value in values:
            if value not in done:
                done[value] = processor(value)
        return [done[value] for value in values]
    except TypeError:  # unhashable values (JSON documents)
        return [None if value is None else processor(value) for value in values]


def _keys(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The union of the rows' keys in first-seen order (a row without a key gets NULL or the default)."""
    first = rows[0].keys()
    if all(row.keys() == first for row in rows):
        return tuple(first)
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return tuple(keys)


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    connection = session.connection()
    _execute_many(connection, _insert_statement(connection.dialect, _table(model), _keys(rows)), rows)


def upsert_rows(
    session: Session, model: Any, rows: Sequence[dict[str, Any]], conflict: Sequence[str], assignments: Sequence[str]
) -> None:
    """INSERT … ON CONFLICT (`conflict`) DO UPDATE SET `assignments` (SQL text over the table's columns
    and `excluded.<column>`, e.g. "records = contact_sources.records + excluded.records").

    Rows must not repeat a conflict key: a statement may not update the same row twice.
    """
    if not rows:
        return
    connection = session.connection()
    statement = _upsert_statement(connection.dialect, _table(model), _keys(rows), tuple(conflict), tuple(assignments))
    _execute_many(connection, statement, rows)


def insert_returning_ids(
    session: Session, model: Any, rows: Sequence[dict[str, Any]], key: Sequence[str], scope: dict[str, Any]
) -> list[int]:
    """Insert rows and return their new ids in the order of `rows`.

    The ids are read back by natural key (`key` columns, unique within `scope`, e.g. organization
    and source): one cached statement per table instead of multi-row INSERT … RETURNING texts that
    differ every time, which both sqlite3 and psycopg would otherwise parse anew for every batch.
    """
    if not rows:
        return []
    insert_rows(session, model, rows)
    table = _table(model)
    ids: dict[tuple[Any, ...], int] = {}
    conditions = [table.c[name] == value for name, value in scope.items()]
    for name in key:
        values = {row[name] for row in rows if row.get(name) is not None}
        if values:
            query = select(table.c.id, *(table.c[k] for k in key)).where(*conditions, values_in(table.c[name], values))
            for row in session.connection().execute(query):
                ids[tuple(row[1:])] = int(row[0])
    return [ids[tuple(row.get(name) for name in key)] for row in rows]


def update_by_id(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by primary key; each dict holds "id" plus the columns to set (key sets may differ)."""
    if not rows:
        return
    connection = session.connection()
    table = _table(model)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k != "id")), []).append(row)
    for columns, group in groups.items():
        last_per_id = list({row["id"]: row for row in group}.values())
        _execute_many(connection, _update_statement(connection.dialect, table, columns), last_per_id)
