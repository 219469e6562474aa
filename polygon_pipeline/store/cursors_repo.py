"""Per-exchange reconciliation cursors: the last block of the unbroken coverage that starts at
the lowest block ever reconciled, so "everything up to here is stored" holds whatever order
ranges were reconciled in."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select, text

from polygon_pipeline.chain.exchanges import Venue
from polygon_pipeline.store.coverage_repo import covered_through, lowest_covered
from polygon_pipeline.store.schema import exchange_cursors
from polygon_pipeline.store.upsert import upsert


def get_cursor(conn: Connection, exchange: str) -> int | None:
    return conn.execute(
        select(exchange_cursors.c.last_processed_block).where(
            exchange_cursors.c.exchange == exchange
        )
    ).scalar_one_or_none()


def _set_cursor(conn: Connection, exchange: str, block: int) -> None:
    row = {"exchange": exchange, "last_processed_block": block, "updated_at": datetime.now(tz=UTC)}
    conn.execute(upsert(conn, exchange_cursors, row, key=["exchange"]))


def _lock(conn: Connection, exchange: str) -> None:
    """Serialize cursor updates of one exchange until the transaction ends, so that one that
    counted coverage before another committed cannot set the cursor back over it (SQLite
    transactions that write are serialized already)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"polygon_pipeline cursor {exchange}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def refresh_cursor(conn: Connection, exchange: str, venues: Sequence[Venue]) -> int | None:
    """Set the cursor to the last block of the coverage that runs unbroken from the lowest
    block ever reconciled, complete for every venue of `venues` (the registry) trading there.
    Chunks finish out of order, so the one that closes a hole may carry the cursor past later
    chunks already stored; a range reconciled below all others counts from there, and a
    hole found below the cursor (coverage recorded before a venue was known, or under an
    override since corrected) pulls it back to the hole. Returns the cursor."""
    _lock(conn, exchange)
    cursor = get_cursor(conn, exchange)
    lowest = lowest_covered(conn, exchange)
    if lowest is None:
        return cursor
    reach = covered_through(conn, exchange, venues, lowest)
    if reach != cursor:
        _set_cursor(conn, exchange, reach)
    return reach


def history_end(conn: Connection) -> int | None:
    """The highest exchange cursor: where a new leader's history stops (reconciliation
    covers every leader from there on); None before any reconciliation."""
    return conn.execute(select(func.max(exchange_cursors.c.last_processed_block))).scalar()
