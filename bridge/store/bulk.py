"""Many rows in few statements: what a page of orders (and the write-back queue) writes and
reads in bulk, on both databases.

* ``execute_many``: one statement for many rows, compiled once per shape; each row's values go
  through the column types' processors straight into the driver (one ``executemany`` on SQLite;
  a plain INSERT is one ``COPY`` on PostgreSQL, where psycopg's executemany sends a statement
  per row). ``insert_rows`` inserts plain rows with it; ``reserve_ids`` draws the ids of new
  rows first, so the rows need no ``INSERT ... RETURNING`` matched back.
* ``update_rows`` (by primary key) and ``insert_many_ignoring`` (``ON CONFLICT DO NOTHING``):
  one executemany on SQLite, one statement on PostgreSQL with the rows as one JSON text
  (``json_populate_recordset``).
* ``among``: ``column IN values`` with the values as one JSON text parameter, so a statement's
  text does not change with their number (or given at execution, for a statement kept with
  ``built``); ``unindexed`` keeps the planners from preferring another condition's index to
  it.
* ``insert_new``: ORM objects pending in a session, one multi-row ``INSERT ... RETURNING id,
  <unique key>`` per table (the ORM's flush inserts one row per statement on SQLite), the ids
  matched back by that key and the objects joined to the session as if loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Insert,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    inspect,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import BindParameter, TextClause
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Session, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from bridge.store.db import dump_json

# The unique column that tells inserted rows apart, per table with a generated id.
UNIQUE_KEYS: Mapping[str, str] = {
    "learner": "email",
    "ledger_entry": "source_key",
    "seat": "source_key",
    "access": "source_key",
    "claim_place": "place_key",
}


def among(
    column: Any, values: Iterable[Any] = (), *, name: str | None = None
) -> ColumnElement[bool]:
    """``column IN values`` with the values as one JSON text parameter, whatever their number:
    ``= ANY (ARRAY(SELECT json_array_elements_text(?))::type[])`` on PostgreSQL (an index scan,
    the array built once), ``IN (SELECT value FROM json_each(?))`` on SQLite. The values are
    ids or keys (numbers, text).

    A plain ``IN`` renders a parameter per value, so the statement's text changes with the
    count: SQLAlchemy renders it and the driver parses it again on every execution (psycopg
    caches no statement of over 50 parameters), which for a page of orders costs more than
    the query. Here the text is the same for every page, and one text parameter is the
    cheapest for the driver to send (psycopg adapts a list element by element).

    ``name``: the values are given at execution instead, ``{name: listed(values)}``, so the
    statement can be kept (``built``).
    """
    if name is not None:
        return _Among(column, bindparam(name, type_=String))
    return _Among(column, bindparam(None, listed(values), type_=String))


def listed(values: Iterable[Any]) -> str:
    """The values as the one JSON text parameter of ``among(column, name=...)``."""
    return json.dumps(list(values))


_Built = TypeVar("_Built")
_BUILT: dict[Hashable, Any] = {}


def built(key: Hashable, build: Callable[[], _Built]) -> _Built:
    """The statement ``build()`` makes, built once per ``key`` (which must name one shape whose
    values are all bound by name at execution: ``among(column, name=...)``, ``bindparam``).

    Building a SELECT and deriving SQLAlchemy's cache key from it costs more than executing
    it; a kept statement has its key already. A page of orders runs some twenty such reads.
    """
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = build()
    return statement


class _Among(ColumnElement[bool]):
    """``among``'s condition: a column and the values bound as one JSON text."""

    __visit_name__ = "bridge_among"
    inherit_cache = True
    type = Boolean()
    # A condition as it is, not compared with 1 where the database has no boolean type.
    _is_implicitly_boolean = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Any]) -> None:
        self.column = column
        self.values = values


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    values = compiler.process(element.values, **kw)
    kind = compiler.dialect.type_compiler_instance.process(element.column.type)
    # Compiled SQL only (a column, a bind placeholder, a type name): nothing of the values.
    return (
        f"{column} = ANY (ARRAY(SELECT json_array_elements_text(CAST({values} AS JSON)))::{kind}[])"
    )


@compiles(_Among)
def _among_json(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    values = compiler.process(element.values, **kw)
    # Both fragments are compiled SQL (a column, a bind placeholder): nothing of the values.
    return f"{column} IN (SELECT value FROM json_each({values}))"  # noqa: S608


def unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A text ``column`` in a condition no index may serve: ``+column`` on SQLite (its
    documented way to take a term out of the planner's choice), ``(column || '')`` on
    PostgreSQL.

    Without statistics (SQLite keeps none; PostgreSQL has none for a table a first sync fills)
    the planners take an equality on a few listed values (``status IN ('pending', ...)``) for
    more selective than ``among``'s keys, and walk every row of that status instead of the few
    rows of those keys: on the outbox, all the rows a long sync has queued, once per page.
    """
    kind = column.type
    if not isinstance(getattr(kind, "impl", kind), String):
        raise TypeError(f"unindexed takes a text column, not {column.type!r}")
    return _Unindexed(column)


class _Unindexed(ColumnElement[Any]):
    """``unindexed``'s column."""

    __visit_name__ = "bridge_unindexed"
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_Unindexed, "sqlite")
def _unindexed_sqlite(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.column, **kw)}"


@compiles(_Unindexed)
def _unindexed_other(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.column, **kw)} || '')"


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """Ids for ``count`` new rows of ``table`` (its ``id`` column), ascending, drawn now, so the
    rows can be inserted with them in one plain ``executemany`` instead of an ``INSERT ...
    RETURNING`` that must be matched back.

    PostgreSQL: values of the column's sequence (never drawn twice, whatever runs at the same
    time). SQLite: the ids SQLite itself would give next (one above the largest); the caller's
    transaction must be the writer (``BEGIN IMMEDIATE``, bridge.store.db), which it is for every
    unit of work that writes, so no other connection can take them first.
    """
    if count <= 0:
        return []
    if _postgresql(session):
        drawn = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": count},
        ).scalars()
        return sorted(int(value) for value in drawn)
    largest = built(
        ("largest id", table.name), lambda: select(func.coalesce(func.max(table.c.id), 0))
    )
    top = session.execute(largest).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))


def table_of(model: type[SQLModel]) -> Table:
    """The table ``model`` is mapped to: its ``__table__``, which SQLModel leaves untyped."""
    table = inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def insert_new(session: Session, objects: Iterable[SQLModel]) -> None:
    """Insert those of ``objects`` still pending in the session, in their order, in bulk.

    Tables go in dependency order (learners before the rows that name them); within a table
    rows keep the order given, so generated ids follow it (waitlists are ordered by id).
    """
    pending = [obj for obj in objects if obj in session.new]
    if not pending:
        return
    by_table: dict[Table, list[SQLModel]] = {}
    for obj in pending:
        by_table.setdefault(table_of(type(obj)), []).append(obj)
    order = {table: index for index, table in enumerate(SQLModel.metadata.sorted_tables)}
    # Our own statements must not autoflush the rows still waiting for theirs.
    with session.no_autoflush:
        for table in sorted(by_table, key=lambda t: order.get(t, len(order))):
            _insert_table(session, table, by_table[table])


def _insert_table(session: Session, table: Table, objects: Sequence[SQLModel]) -> None:
    key_name = UNIQUE_KEYS.get(table.name)
    [pk] = list(table.primary_key.columns)
    if key_name is None or len({getattr(o, key_name) for o in objects}) != len(objects):
        session.flush(objects)  # no way to tell the rows apart: the ORM inserts them
        return
    columns = [c for c in table.columns if not (c is pk and getattr(objects[0], c.key) is None)]
    rows = [{c.key: getattr(obj, c.key) for c in columns} for obj in objects]
    for obj in objects:
        session.expunge(obj)
    postgres = _postgresql(session)
    # PostgreSQL draws ids in parameter order only when asked to; SQLite always does.
    statement = insert(table).returning(pk, table.c[key_name], sort_by_parameter_order=postgres)
    ids = {key: row_id for row_id, key in session.execute(statement, rows).all()}
    for obj in objects:
        setattr(obj, pk.key, ids[getattr(obj, key_name)])
        make_transient_to_detached(obj)
        session.add(obj)


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring(session: Session, table: Table, conflict: Sequence[str]) -> Insert:
    """``INSERT ... ON CONFLICT (conflict) DO NOTHING`` for the session's database (add
    ``.values()`` or execute it with a list of rows)."""
    if _postgresql(session):
        return pg_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict))


def insert_many_ignoring(
    session: Session, table: Table, conflict: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Many rows' ``INSERT ... ON CONFLICT (conflict) DO NOTHING``, all with the same keys:
    one statement on PostgreSQL (the rows as one JSON text, ``json_populate_recordset``; psycopg
    would send a statement per row), one executemany on SQLite."""
    if not rows:
        return
    if not _postgresql(session):
        shape = ("insert_ignoring", "sqlite", table.name, tuple(conflict))
        statement = built(shape, lambda: insert_ignoring(session, table, conflict))
        execute_many(session, statement, rows, key=shape)
        return
    defaults = {
        column.key: column.default.arg  # type: ignore[attr-defined]
        for column in table.columns
        if column.key not in rows[0] and column.default is not None and column.default.is_scalar
    }
    if defaults:  # the model's defaults, as SQLAlchemy's INSERT would send them
        rows = [{**defaults, **row} for row in rows]
    names = tuple(rows[0])

    def build() -> TextClause:
        quote = session.get_bind().dialect.identifier_preparer.quote
        name = quote(table.name)
        columns = ", ".join(quote(table.c[n].name) for n in names)
        keys = ", ".join(quote(table.c[n].name) for n in conflict)
        # Table and column names from the schema, quoted: nothing of the rows is in the text.
        return text(
            f"INSERT INTO {name} ({columns}) SELECT {columns} "  # noqa: S608
            f"FROM json_populate_recordset(NULL::{name}, CAST(:rows AS JSON)) "
            f"ON CONFLICT ({keys}) DO NOTHING"
        )

    from_json = built(("insert_ignoring", "postgresql", table.name, names, tuple(conflict)), build)
    with session.no_autoflush:
        session.execute(from_json, {"rows": _json_rows(rows)})


def insert_ignore(
    session: Session, model: type[SQLModel], values: Mapping[str, Any], conflict: Sequence[str]
) -> bool:
    """One row's INSERT ... ON CONFLICT DO NOTHING, so two workers creating it do not collide.

    Returns True when this call inserted the row.
    """
    statement = (
        insert_ignoring(session, table_of(model), conflict)
        .values(**values)
        .returning(literal_column("1", Integer))
    )
    # RETURNING, not rowcount: psycopg reports no rowcount for ORM-executed inserts.
    return session.execute(statement).first() is not None


def insert_or_update(
    session: Session, table: Table, conflict: Sequence[str], changes: Mapping[str, Any]
) -> Insert:
    """``INSERT ... ON CONFLICT (conflict) DO UPDATE SET changes`` for the session's database:
    one atomic statement on both (add ``.values()``, and ``.returning()`` to read the row).
    The changes may use the stored row's columns (``table.c.x + 1``)."""
    if _postgresql(session):
        return pg_insert(table).on_conflict_do_update(
            index_elements=list(conflict), set_=dict(changes)
        )
    return sqlite_insert(table).on_conflict_do_update(
        index_elements=list(conflict), set_=dict(changes)
    )


@dataclass(frozen=True)
class _Plan:
    """How ``execute_many`` runs one statement shape on one database."""

    sql: str
    order: tuple[str, ...]  # bind names, in the driver's order
    processors: tuple[Callable[[Any], Any] | None, ...]  # the column types' bind processors
    defaults: Mapping[str, Any]  # scalar column defaults of binds the rows do not carry
    copy: str | None  # a plain INSERT on PostgreSQL: COPY ... FROM STDIN


# (caller's key, dialect, parameter names) -> the plan; None: SQLAlchemy executes it.
_PLANS: dict[tuple[Hashable, str, tuple[str, ...]], _Plan | None] = {}


def execute_many(
    session: Session,
    statement: UpdateBase,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Hashable,
) -> None:
    """Execute ``statement`` once per row, in one DBAPI ``executemany`` (a plain INSERT on
    PostgreSQL: one ``COPY``); every row has the same keys, the statement's bind names (columns
    with a scalar default may be left out). Nothing is read back.

    The statement is compiled once per ``key`` (which must name one statement shape) and
    dialect; each row's values go through the column types' bind processors straight into the
    driver's parameters. SQLAlchemy's own executemany builds and processes every parameter set
    through its generic machinery, and psycopg's sends each row as a statement of its own:
    on a page of orders either costs more than the database's work.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = tuple(rows[0])
    cache = (key, dialect.name, names)
    if cache not in _PLANS:
        _PLANS[cache] = _plan(statement, dialect, names)
    plan = _PLANS[cache]
    if plan is None:
        with session.no_autoflush:
            session.execute(statement, list(rows))
        return
    if plan.defaults:
        rows = [{**plan.defaults, **row} for row in rows]
    values = _values(plan, rows)
    if plan.copy is not None:
        _copy(connection, plan.copy, values)
    elif dialect.positional:
        connection.exec_driver_sql(plan.sql, values)
    else:
        order = plan.order
        connection.exec_driver_sql(plan.sql, [dict(zip(order, row, strict=True)) for row in values])


def _values(plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Each row's values in the plan's order, through their processors (most columns have
    none: their values are taken as they are, in C)."""
    order = plan.order
    if len(order) == 1:
        [name] = order
        [process] = plan.processors
        return [(row[name] if process is None else process(row[name]),) for row in rows]
    take = itemgetter(*order)
    processed = [(at, process) for at, process in enumerate(plan.processors) if process]
    if not processed:
        return [take(row) for row in rows]
    values = []
    for row in rows:
        value = list(take(row))
        for at, process in processed:
            value[at] = process(value[at])
        values.append(tuple(value))
    return values


def _plan(statement: UpdateBase, dialect: Any, names: tuple[str, ...]) -> _Plan | None:
    plain = type(statement) is Insert and statement.select is None
    if isinstance(statement, Insert):
        statement = statement.inline()  # no implicit RETURNING of the new id
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    assert isinstance(compiled, SQLCompiler)
    order = tuple(compiled.positiontup or ()) if dialect.positional else tuple(compiled.binds)
    table = statement.table if isinstance(statement.table, Table) else None
    defaults: dict[str, Any] = {}
    for name in set(order) - set(names):
        column = table.c.get(name) if table is not None else None
        default = column.default if column is not None else None
        if default is None or not default.is_scalar:
            return None  # a literal, or a default computed per row: SQLAlchemy binds it
        defaults[name] = default.arg
    if (
        compiled.escaped_bind_names
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.returning
    ):
        return None
    processors: dict[str, Any] = dict(compiled._bind_processors)
    for name in order:
        if isinstance(compiled.binds[name].type, UTCDateTime) and name in processors:
            processors[name] = _moment(processors[name], sqlite=dialect.name == "sqlite")
    copy = None
    if plain and table is not None and dialect.name == "postgresql":
        columns = ", ".join(dialect.identifier_preparer.quote(table.c[n].name) for n in order)
        copy = f"COPY {dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN"
    return _Plan(
        str(compiled), order, tuple(processors.get(name) for name in order), defaults, copy
    )


def _moment(general: Callable[[Any], Any], *, sqlite: bool) -> Callable[[Any], Any]:
    """A UTC moment as the database takes it, as SQLModel's UTCDateTime (and on SQLite,
    SQLAlchemy's DATETIME text, ``2026-12-07 16:26:54.075660``) would give it, several times
    faster for the moments the bridge makes (aware, in UTC); any other value goes the general
    way (a naive one is refused there)."""

    # The last moment written and its text: a page's rows share their ``now``.
    last: list[tuple[Any, str]] = [(object(), "")]

    def sqlite_text(value: Any) -> Any:
        seen, written = last[0]
        if value is seen:
            return written
        if type(value) is datetime and value.tzinfo is UTC:
            # "2026-12-07 16:26:54.075660+00:00" without its offset (years are 4 digits).
            written = value.isoformat(" ", "microseconds")[:26]
            last[0] = (value, written)  # one assignment: a pair another thread reads whole
            return written
        return general(value)

    def as_it_is(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        return general(value)

    return sqlite_text if sqlite else as_it_is


def _copy(connection: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows into a PostgreSQL table with one ``COPY`` (psycopg writes them in C); an error is
    raised as SQLAlchemy's (an IntegrityError stays one) and the statement is seen by the
    engine's cursor events like any other."""
    dbapi_connection = connection.connection.driver_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    connection.dispatch.before_cursor_execute(connection, cursor, sql, rows, None, True)
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            sql,
            None,
            exc,
            connection.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            dialect=connection.dialect,
            ismulti=True,
        ) from exc
    finally:
        cursor.close()
    connection.dispatch.after_cursor_execute(connection, cursor, sql, rows, None, True)


def update_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE rows by primary key: each row maps the key and the same columns to their new
    values. One executemany on SQLite; one statement on PostgreSQL, the rows sent as one JSON
    text (``json_populate_recordset``), where psycopg would send a statement per row."""
    if not rows:
        return
    [pk] = list(table.primary_key.columns)
    keys = [key for key in rows[0] if key != pk.key]
    with session.no_autoflush:  # the ORM would send its pending rows one UPDATE per shape first
        if _postgresql(session):
            session.execute(_update_from_json(session, table, keys), {"rows": _json_rows(rows)})
            return
        shape = ("update_rows", table.name, tuple(keys))
        statement = built(
            shape,
            lambda: (
                update(table)
                .where(pk == bindparam("row_pk", type_=pk.type))
                .values({key: bindparam(f"new_{key}", type_=table.c[key].type) for key in keys})
            ),
        )
        execute_many(
            session,
            statement,
            [{"row_pk": row[pk.key], **{f"new_{key}": row[key] for key in keys}} for row in rows],
            key=shape,
        )


def _update_from_json(session: Session, table: Table, keys: Sequence[str]) -> TextClause:
    """``UPDATE table SET key = v.key, ... FROM json_populate_recordset(NULL::table, :rows)``."""

    def build() -> TextClause:
        quote = session.get_bind().dialect.identifier_preparer.quote
        [pk] = list(table.primary_key.columns)
        name = quote(table.name)
        changes = ", ".join(f"{quote(table.c[k].name)} = v.{quote(table.c[k].name)}" for k in keys)
        # Table and column names from the schema, quoted: nothing of the rows is in the text.
        return text(
            f"UPDATE {name} SET {changes} "  # noqa: S608
            f"FROM json_populate_recordset(NULL::{name}, CAST(:rows AS JSON)) AS v "
            f"WHERE {name}.{quote(pk.name)} = v.{quote(pk.name)}"
        )

    return built(("update_from_json", table.name, tuple(keys)), build)


def _json_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as JSON text for PostgreSQL to read back into its column types (moments as RFC 3339
    with their offset, decimals as text), written as the JSON columns are (``dump_json``)."""

    def other(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        raise TypeError(f"{type(value).__name__} is not a column value")

    return dump_json(list(rows), default=other)


def insert_rows(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """Insert plain rows in one statement (executemany); nothing is read back."""
    if rows:
        table = table_of(model)
        execute_many(session, insert(table), rows, key=("insert_rows", table.name))


def update_changed(session: Session, objects: Iterable[SQLModel]) -> None:
    """UPDATE the changed ones of ``objects`` (persistent) in one executemany per table.

    The ORM sends one UPDATE per distinct set of changed columns; a page of orders changes a
    few dozen such sets. Here every changed row of a table writes the same columns, and the
    objects are then clean, as after a flush.
    """
    by_table: dict[Table, list[tuple[SQLModel, set[str]]]] = {}
    for obj in objects:
        state = inspect(obj)
        if not (state.persistent and state.modified):
            continue
        # The attributes set since the row was loaded (their old values are kept here).
        changed = set(state.committed_state)
        if changed:
            by_table.setdefault(table_of(type(obj)), []).append((obj, changed))
    for table, items in by_table.items():
        [pk] = list(table.primary_key.columns)
        keys = sorted({key for _, changed in items for key in changed} - {pk.key})
        update_rows(
            session,
            table,
            [
                {pk.key: getattr(obj, pk.key), **{key: getattr(obj, key) for key in keys}}
                for obj, _ in items
            ],
        )
        for obj, _ in items:
            for key in keys:
                set_committed_value(obj, key, getattr(obj, key))
