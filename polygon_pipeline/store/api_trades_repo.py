"""API-mode trades and the poller's per-leader cursors."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from polygon_pipeline.data_api.trades import ApiTrade
from polygon_pipeline.store.schema import api_cursors, api_trades
from polygon_pipeline.store.upsert import insert_on_conflict, upsert


def insert_api_trades(conn: Connection, trades: Iterable[ApiTrade], seen_at: datetime) -> int:
    """Store trades not seen before (first sighting kept); return how many were new."""
    rows = {
        t.identity: {
            "leader": t.leader,
            "tx_hash": t.tx_hash,
            "token_id": t.token_id,
            "side": t.side,
            "size": str(t.size),
            "price": str(t.price),
            "trade_timestamp": datetime.fromtimestamp(t.timestamp, tz=UTC),
            "first_seen_at": seen_at,
        }
        for t in trades
    }
    if not rows:
        return 0
    stmt = (
        insert_on_conflict(conn, api_trades)
        .on_conflict_do_nothing(
            index_elements=["leader", "tx_hash", "token_id", "side", "size", "price"]
        )
        .returning(api_trades.c.id)
    )
    return len(conn.execute(stmt, list(rows.values())).all())


def api_cursor(conn: Connection, leader: str) -> int | None:
    return conn.execute(
        select(api_cursors.c.newest_timestamp).where(api_cursors.c.leader == leader)
    ).scalar_one_or_none()


def advance_api_cursor(conn: Connection, leader: str, newest: int) -> None:
    row = {"leader": leader, "newest_timestamp": newest, "updated_at": datetime.now(tz=UTC)}
    newer = api_cursors.c.newest_timestamp < newest
    conn.execute(upsert(conn, api_cursors, row, key=["leader"], where=newer))


def fetch_api_trades(conn: Connection, since: datetime | None = None) -> list[dict]:
    query = select(api_trades).order_by(api_trades.c.id)
    if since is not None:
        query = query.where(api_trades.c.trade_timestamp >= since)
    return [dict(r._mapping) for r in conn.execute(query)]
