"""Dialect-aware `INSERT ... ON CONFLICT`, so repositories stay backend-neutral."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_on_conflict(conn: Connection, table: Table):
    """An insert construct with `.on_conflict_do_*` for the connection's backend."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database backend {name!r} (use SQLite or PostgreSQL)")
