"""Which block ranges reconciliation has stored, and where the holes are."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, func, insert, select

from polygon_pipeline.store.schema import reconciled_ranges

Span = tuple[int, int]


def record_range(
    conn: Connection, exchange: str, from_block: int, to_block: int, leader_set_id: int
) -> None:
    """Blocks [from_block, to_block] of `exchange` are stored for the leaders of the set."""
    conn.execute(
        insert(reconciled_ranges).values(
            exchange=exchange,
            from_block=from_block,
            to_block=to_block,
            reconciled_at=datetime.now(tz=UTC),
            leader_set_id=leader_set_id,
        )
    )


def format_spans(spans: Iterable[Sequence[int]], empty: str = "-") -> str:
    """Spans as people read them in metadata and messages: `lo..hi, lo..hi`."""
    return ", ".join(f"{lo}..{hi}" for lo, hi in spans) or empty


def merge(spans: Iterable[Sequence[int]]) -> list[Span]:
    """Sorted, overlapping or adjacent spans joined."""
    merged: list[Span] = []
    for lo, hi in sorted((int(a), int(b)) for a, b in spans):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def holes(spans: Sequence[Span], lo: int, hi: int) -> list[Span]:
    """The parts of [lo, hi] outside the merged `spans`."""
    found, reached = [], lo - 1
    for a, b in spans:
        if b < lo or a > hi:
            continue
        if a > reached + 1:
            found.append((reached + 1, a - 1))
        reached = max(reached, b)
    if reached < hi:
        found.append((reached + 1, hi))
    return found


def _spans(
    conn: Connection, exchange: str, from_block: int, leader_set_id: int | None = None
) -> list[Span]:
    query = (
        select(reconciled_ranges.c.from_block, reconciled_ranges.c.to_block)
        .where(reconciled_ranges.c.exchange == exchange)
        .where(reconciled_ranges.c.to_block >= from_block)
    )
    if leader_set_id is not None:
        query = query.where(reconciled_ranges.c.leader_set_id == leader_set_id)
    return merge(conn.execute(query).all())


def gaps(
    conn: Connection,
    exchange: str,
    from_block: int,
    to_block: int,
    leader_set_id: int | None = None,
) -> list[Span]:
    """The sub-ranges of [from_block, to_block] that no reconciliation covered (for this set
    of leaders, when given: ranges reconciled for another set do not count)."""
    return holes(_spans(conn, exchange, from_block, leader_set_id), from_block, to_block)


def uncovered(
    conn: Connection,
    exchanges: Iterable[str],
    spans: Iterable[Span],
    leader_set_id: int | None = None,
) -> list[Span]:
    """The parts of `spans` some exchange has a gap in, merged: what must be read again."""
    return merge(
        gap
        for lo, hi in spans
        for exchange in exchanges
        for gap in gaps(conn, exchange, lo, hi, leader_set_id)
    )


def covered_through(conn: Connection, exchange: str, from_block: int) -> int:
    """The last block of the unbroken coverage that starts at `from_block` (from_block - 1
    when that block itself was never covered): how far a cursor at from_block - 1 may move
    now that chunks finishing out of order may have closed a hole."""
    spans = _spans(conn, exchange, from_block)
    return spans[0][1] if spans and spans[0][0] <= from_block else from_block - 1


def lowest_covered(conn: Connection, exchange: str) -> int | None:
    """The first block any reconciliation of `exchange` covered; None when none did."""
    return conn.execute(
        select(func.min(reconciled_ranges.c.from_block)).where(
            reconciled_ranges.c.exchange == exchange
        )
    ).scalar()
