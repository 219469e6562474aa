"""Per-exchange reconciliation cursors: the last block whose fills are fully stored."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select

from polygon_pipeline.store.schema import exchange_cursors
from polygon_pipeline.store.upsert import insert_on_conflict


def get_cursor(conn: Connection, exchange: str) -> int | None:
    return conn.execute(
        select(exchange_cursors.c.last_processed_block).where(
            exchange_cursors.c.exchange == exchange
        )
    ).scalar_one_or_none()


def advance_cursor(conn: Connection, exchange: str, block: int) -> None:
    """Move the cursor forward to `block`; never backwards (an older rerun cannot rewind it)."""
    stmt = insert_on_conflict(conn, exchange_cursors).values(
        exchange=exchange, last_processed_block=block, updated_at=datetime.now(tz=UTC)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["exchange"],
        set_={
            "last_processed_block": stmt.excluded.last_processed_block,
            "updated_at": stmt.excluded.updated_at,
        },
        where=exchange_cursors.c.last_processed_block < stmt.excluded.last_processed_block,
    )
    conn.execute(stmt)
