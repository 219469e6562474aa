"""The live feed against reconciliation, over block ranges reconciliation has closed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, select, tuple_

from polygon_pipeline.chain.fills import Fill
from polygon_pipeline.store.schema import fills, live_sightings
from polygon_pipeline.store.upsert import insert_on_conflict


def record_sighting(conn: Connection, fill: Fill, seen_at: datetime) -> None:
    stmt = insert_on_conflict(conn, live_sightings).values(
        chain_id=fill.chain_id,
        tx_hash=fill.tx_hash,
        log_index=fill.log_index,
        exchange=fill.exchange,
        block_number=fill.block_number,
        seen_at=seen_at,
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["chain_id", "tx_hash", "log_index"]))


def forget_sightings(conn: Connection, keys: Sequence[tuple[int, str, int]]) -> None:
    """The feed itself withdrew these (removed: true): not extras."""
    if keys:
        identity = tuple_(
            live_sightings.c.chain_id, live_sightings.c.tx_hash, live_sightings.c.log_index
        )
        conn.execute(delete(live_sightings).where(identity.in_(list(keys))))


def first_sighting_block(conn: Connection) -> int | None:
    """Where the live feed's record starts: its first sighting on any exchange (the watcher
    subscribes to every venue at once, so a quiet exchange was watched from there too)."""
    return conn.execute(select(func.min(live_sightings.c.block_number))).scalar_one()


@dataclass(frozen=True)
class LiveComparison:
    reconciled: int  # fills reconciliation kept in the range
    misses: int  # ... that the live feed never saw
    extras: int  # fills the live feed saw that reconciliation did not keep


def compare_live(conn: Connection, exchange: str, from_block: int, to_block: int) -> LiveComparison:
    in_fills = and_(
        fills.c.exchange == exchange, fills.c.block_number.between(from_block, to_block)
    )
    in_sightings = and_(
        live_sightings.c.exchange == exchange,
        live_sightings.c.block_number.between(from_block, to_block),
    )
    seen = select(
        live_sightings.c.chain_id, live_sightings.c.tx_hash, live_sightings.c.log_index
    ).where(in_sightings)
    kept = select(fills.c.chain_id, fills.c.tx_hash, fills.c.log_index).where(in_fills)
    identity = tuple_(fills.c.chain_id, fills.c.tx_hash, fills.c.log_index)
    sighting = tuple_(
        live_sightings.c.chain_id, live_sightings.c.tx_hash, live_sightings.c.log_index
    )
    count = func.count()
    return LiveComparison(
        reconciled=conn.execute(select(count).select_from(fills).where(in_fills)).scalar_one(),
        misses=conn.execute(
            select(count).select_from(fills).where(in_fills).where(identity.not_in(seen))
        ).scalar_one(),
        extras=conn.execute(
            select(count)
            .select_from(live_sightings)
            .where(in_sightings)
            .where(sighting.not_in(kept))
        ).scalar_one(),
    )
