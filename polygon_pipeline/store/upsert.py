"""Dialect-aware `INSERT ... ON CONFLICT`, so repositories stay backend-neutral."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

# Rows per statement: with a fill's 27 columns, well under SQLite's 32,766 bound parameters
# and PostgreSQL's 65,535, however many leaders or fills are written at once.
ROWS_PER_STATEMENT = 1000


def insert_on_conflict(conn: Connection, table: Table):
    """An insert construct with `.on_conflict_do_*` for the connection's backend."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database backend {name!r} (use SQLite or PostgreSQL)")


def upsert(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    key: Sequence[str],
    where: ColumnElement[bool] | None = None,
):
    """One row: inserted, or where `key` clashes its other given columns overwritten (only
    when `where` holds on the stored row)."""
    stmt = insert_on_conflict(conn, table).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={column: stmt.excluded[column] for column in values if column not in key},
        where=where,
    )
