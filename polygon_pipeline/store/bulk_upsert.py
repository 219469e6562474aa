"""Upserting a large batch fast, each backend by its own bulk path, with the conflict rule
still written once as a SQLAlchemy construct.

Through SQLAlchemy's executemany every value of every row is bound and type-processed one
by one, and psycopg re-parses a statement of 27,000 placeholders per 1,000 fills: that, not
the database, was most of a write's time (BENCHMARKS 4). Here the values are encoded a
column at a time to what SQLAlchemy's type processors would give, then
- PostgreSQL: COPY into a temporary table, and one `INSERT ... SELECT ... ON CONFLICT ...
  RETURNING` moves the batch (RETURNING: what was written, for NOTIFY);
- SQLite: sqlite3's executemany runs one prepared `INSERT ... ON CONFLICT` over plain
  tuples in C; it counts the rows written, all SQLite's callers need.
Both run in the caller's transaction, so a batch commits or rolls back with what else the
transaction writes (a chunk's fills and its cursor advance: design rule 6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Row, Table, bindparam, column, select, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from polygon_pipeline.store.types import EncodesColumns
from polygon_pipeline.store.upsert import insert_on_conflict

Columns = Mapping[str, Sequence[Any]]  # a batch: column name -> its Python values, row by row


def copy_upsert(
    conn: Connection,
    target: Table,
    columns: Columns,
    on_conflict: Callable[[postgresql.Insert], postgresql.Insert],
    returning: Sequence[Column],
) -> Sequence[Row]:
    """PostgreSQL: upsert the rows of `columns` (no two with the same conflict key) into
    `target`, where `on_conflict` says what a clash does; the `returning` columns of the
    rows written.

    The staging table is temporary, created once per session and emptied at every commit
    (ON COMMIT DELETE ROWS truncates it, so no dead rows pile up in a table autovacuum never
    visits), and emptied here too for a second batch in one transaction. COPY needs
    psycopg's own cursor, hence the driver connection: the SQLAlchemy connection's own, in
    the same transaction."""
    driver = conn.connection.driver_connection
    if driver.autocommit:  # each statement would commit, emptying the staging table
        raise RuntimeError("a bulk upsert on PostgreSQL needs a transaction, not autocommit")
    names = list(columns)
    stage, cols = f"{target.name}_incoming", ", ".join(names)
    staged = table(stage, *(column(name) for name in names))
    move = insert_on_conflict(conn, target).from_select(names, select(*staged.c))
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {cols} FROM {target.name} WITH NO DATA"
    )
    conn.exec_driver_sql(f"DELETE FROM {stage}")
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy,
    ):
        for values in _encoded(conn, target, names, columns):
            copy.write_row(values)
    return conn.execute(on_conflict(move).returning(*returning)).all()


def executemany_upsert(
    conn: Connection,
    target: Table,
    columns: Columns,
    on_conflict: Callable[[sqlite.Insert], sqlite.Insert],
) -> int:
    """SQLite: upsert the rows of `columns` (no two with the same conflict key) into
    `target`, where `on_conflict` says what a clash does; how many rows were written (a
    clash that updates nothing counts none: sqlite3 sums SQLite's changes())."""
    sql, names = _prepared(target, tuple(columns), on_conflict, conn.dialect)
    return conn.exec_driver_sql(sql, _encoded(conn, target, names, columns)).rowcount


@lru_cache(maxsize=8)  # a few tables and engines
def _prepared(
    target: Table, names: tuple[str, ...], on_conflict: Callable, dialect: Dialect
) -> tuple[str, list[str]]:
    """The upsert's SQL with `?` placeholders and the columns in their order, compiled once
    rather than for every batch (the watcher writes one fill per transaction)."""
    values = {name: bindparam(name) for name in names}
    compiled = on_conflict(sqlite.insert(target).values(values)).compile(dialect=dialect)
    return compiled.string, list(compiled.positiontup)


def _encoded(conn: Connection, target: Table, names: list[str], columns: Columns) -> list[tuple]:
    """The rows as tuples of what the driver gets, in `names` order, each value encoded as
    SQLAlchemy would for this backend (uint256 as NUMERIC or zero-padded text, times in UTC):
    a column at a time, by the type's `encode_column` where it has one, else by its bind
    processor (none, for plain integers and strings)."""
    dialect, encoded = conn.dialect, []
    for name in names:
        values, kind = columns[name], target.c[name].type
        if isinstance(kind, EncodesColumns):
            values = kind.encode_column(values, dialect)
        elif encode := kind.dialect_impl(dialect).bind_processor(dialect):
            values = list(map(encode, values))
        encoded.append(values)
    return list(zip(*encoded, strict=True))
