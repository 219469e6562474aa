"""Per-exchange reconciliation cursors: the last block whose fills are fully stored."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from polygon_pipeline.store.schema import exchange_cursors
from polygon_pipeline.store.upsert import insert_on_conflict


def get_cursor(conn: Connection, exchange: str) -> int | None:
    return conn.execute(
        select(exchange_cursors.c.last_processed_block).where(
            exchange_cursors.c.exchange == exchange
        )
    ).scalar_one_or_none()


def advance_cursor(conn: Connection, exchange: str, block: int, covered_from: int) -> bool:
    """Record that blocks [covered_from, block] are fully stored. The cursor moves only when
    that range touches it, so it always means "everything up to here": never backwards, and
    never across a gap (a backfill of a later range leaves it where it is). Returns whether
    it moved."""
    stmt = insert_on_conflict(conn, exchange_cursors).values(
        exchange=exchange, last_processed_block=block, updated_at=datetime.now(tz=UTC)
    )
    current = exchange_cursors.c.last_processed_block
    stmt = stmt.on_conflict_do_update(
        index_elements=["exchange"],
        set_={
            "last_processed_block": stmt.excluded.last_processed_block,
            "updated_at": stmt.excluded.updated_at,
        },
        where=(current < stmt.excluded.last_processed_block) & (current >= covered_from - 1),
    ).returning(exchange_cursors.c.exchange)
    return conn.execute(stmt).first() is not None


def history_end(conn: Connection) -> int | None:
    """The highest exchange cursor: where a new leader's history stops (reconciliation
    covers every leader from there on); None before any reconciliation."""
    return conn.execute(select(func.max(exchange_cursors.c.last_processed_block))).scalar()
