"""Which block ranges reconciliation has stored, and where the holes are."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from polygon_pipeline.store.schema import reconciled_ranges


def record_range(conn: Connection, exchange: str, from_block: int, to_block: int) -> None:
    conn.execute(
        insert(reconciled_ranges).values(
            exchange=exchange,
            from_block=from_block,
            to_block=to_block,
            reconciled_at=datetime.now(tz=UTC),
        )
    )


def gaps(conn: Connection, exchange: str, from_block: int, to_block: int) -> list[tuple[int, int]]:
    """The sub-ranges of [from_block, to_block] that no reconciliation covered."""
    rows = conn.execute(
        select(reconciled_ranges.c.from_block, reconciled_ranges.c.to_block)
        .where(reconciled_ranges.c.exchange == exchange)
        .where(reconciled_ranges.c.to_block >= from_block)
        .where(reconciled_ranges.c.from_block <= to_block)
        .order_by(reconciled_ranges.c.from_block)
    ).all()
    holes, reached = [], from_block - 1
    for lo, hi in rows:
        if lo > reached + 1:
            holes.append((reached + 1, min(lo - 1, to_block)))
        reached = max(reached, hi)
        if reached >= to_block:
            break
    if reached < to_block:
        holes.append((reached + 1, to_block))
    return holes


def covered_through(conn: Connection, exchange: str, from_block: int) -> int:
    """The last block of the unbroken coverage that starts at `from_block` (from_block - 1
    when that block itself was never covered): how far a cursor at from_block - 1 may move
    now that chunks finishing out of order may have closed a hole."""
    rows = conn.execute(
        select(reconciled_ranges.c.from_block, reconciled_ranges.c.to_block)
        .where(reconciled_ranges.c.exchange == exchange)
        .where(reconciled_ranges.c.to_block >= from_block)
        .order_by(reconciled_ranges.c.from_block)
    ).all()
    reached = from_block - 1
    for lo, hi in rows:
        if lo > reached + 1:
            break
        reached = max(reached, hi)
    return reached
