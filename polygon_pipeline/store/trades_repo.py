"""Reading the leader_trades view (store/views.py): a leader's order fills with their markets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from polygon_pipeline.store.schema import fills
from polygon_pipeline.store.views import leader_trades


def leader_trade_rows(
    conn: Connection,
    *,
    leader: str | None = None,
    since: datetime | None = None,
    from_block: int | None = None,
    to_block: int | None = None,
) -> list[dict]:
    """Rows of the view in chain order, filtered by leader, block time and block range."""
    view = leader_trades.c
    query = select(leader_trades).order_by(view.block_number, view.log_index)
    if leader is not None:
        query = query.where(view.leader == leader)
    if since is not None:
        query = query.where(view.time >= since)
    if from_block is not None:
        query = query.where(view.block_number >= from_block)
    if to_block is not None:
        query = query.where(view.block_number <= to_block)
    return [dict(r._mapping) for r in conn.execute(query)]


def fills_in_blocks(conn: Connection, from_block: int, to_block: int) -> list[dict]:
    """Every stored fill of a block range, in chain order (amounts as exact ints)."""
    query = (
        select(fills)
        .where(fills.c.block_number.between(from_block, to_block))
        .order_by(fills.c.block_number, fills.c.log_index)
    )
    return [dict(r._mapping) for r in conn.execute(query)]
