"""Per-leader coverage: the block ranges for which a leader's fills are known complete.

A range is complete for a leader when the query that covered it held the leader: every
reconciled range records the set of leaders its run queried, and a history backfill records
its own ranges for the new leaders only. So a leader added today is not taken as covered by
yesterday's ranges, a killed history backfill resumes where it stopped, and a leader removed
and added again is not fetched again where it was covered."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select, union_all

from polygon_pipeline.chain.exchanges import Venue
from polygon_pipeline.store.coverage_repo import Span, complete, exchange_venues, record_span
from polygon_pipeline.store.schema import leader_ranges, leader_sets, reconciled_ranges
from polygon_pipeline.store.upsert import insert_on_conflict


def leader_set_id(conn: Connection, leaders: Iterable[str]) -> int:
    """The id of this set of leaders (addresses lowercase), created on first use."""
    text = ",".join(sorted(set(leaders)))
    digest = hashlib.sha256(text.encode()).hexdigest()
    stmt = insert_on_conflict(conn, leader_sets).values(digest=digest, leaders=text)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["digest"]))
    return conn.execute(select(leader_sets.c.id).where(leader_sets.c.digest == digest)).scalar_one()


def record_leader_range(
    conn: Connection, exchange: str, lo: int, hi: int, set_id: int, venues: Iterable[str]
) -> None:
    """Blocks [lo, hi] of `exchange` are stored for the leaders of the set, for the `venues`
    (names) queried over all of it."""
    record_span(
        conn,
        leader_ranges,
        venues,
        exchange=exchange,
        from_block=lo,
        to_block=hi,
        leader_set_id=set_id,
    )


def _sets_with(conn: Connection, leader: str) -> list[int]:
    # Addresses are fixed-length lowercase hex, so a substring match is an exact match.
    return list(
        conn.execute(
            select(leader_sets.c.id).where(leader_sets.c.leaders.contains(leader))
        ).scalars()
    )


def covered(
    conn: Connection, leader: str, exchanges: Iterable[str], venues: Sequence[Venue]
) -> dict[str, list[Span]]:
    """Per exchange, the merged ranges where `leader`'s fills are complete for every venue of
    `venues` (the registry) trading there (the leader sets that hold it are looked up once)."""
    sets = _sets_with(conn, leader)
    return {
        exchange: _covered_by(conn, sets, exchange, exchange_venues(venues, exchange))
        if sets
        else []
        for exchange in exchanges
    }


def _covered_by(
    conn: Connection, sets: list[int], exchange: str, venues: Sequence[Venue]
) -> list[Span]:
    spans = union_all(
        *(
            select(t.c.from_block, t.c.to_block, t.c.venues)
            .where(t.c.exchange == exchange)
            .where(t.c.leader_set_id.in_(sets))
            for t in (reconciled_ranges, leader_ranges)
        )
    )
    return complete(conn.execute(spans).all(), venues)
