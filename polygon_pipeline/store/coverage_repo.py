"""Which block ranges reconciliation has stored, for which venues, and where the holes are.

A recorded range says which venues were queried over all of it (store/schema.py,
`reconciled_ranges.venues`). Whether a block is complete is judged against today's venue
registry: every venue that can trade there must have been queried there. So coverage recorded
while only V1 was queried (a database from before venues existed) or under a venue override
later corrected has holes for the venues it lacked, and a catch-up reads them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Table, and_, delete, func, insert, select

from polygon_pipeline.chain.exchanges import Venue
from polygon_pipeline.store.schema import reconciled_ranges

Span = tuple[int, int]
Row = tuple[int, int, str]  # from_block, to_block, the venues queried (venue_list)


def venue_list(names: Iterable[str]) -> str:
    """How a range's queried venues are stored: sorted names, comma-separated."""
    return ",".join(sorted(set(names)))


def record_span(conn: Connection, table: Table, venues: Iterable[str], **row: object) -> None:
    """Insert a covered range [from_block, to_block] into `table`, merged in this transaction
    with the rows it overlaps or touches that have the same key (exchange, leader set) and
    the same venues, so reruns do not add a row per chunk. Two writers merging at once may
    leave two overlapping rows, never lose a block."""
    lo, hi = int(row.pop("from_block")), int(row.pop("to_block"))
    names = venue_list(venues)
    same = and_(
        table.c.venues == names,
        table.c.from_block <= hi + 1,
        table.c.to_block >= lo - 1,
        *(table.c[k].is_(None) if v is None else table.c[k] == v for k, v in row.items()),
    )
    touching = conn.execute(select(table.c.id, table.c.from_block, table.c.to_block).where(same))
    ids = []
    for row_id, a, b in touching:
        ids.append(row_id)
        lo, hi = min(lo, a), max(hi, b)
    if ids:
        conn.execute(delete(table).where(table.c.id.in_(ids)))
    conn.execute(
        insert(table).values(
            **row, from_block=lo, to_block=hi, venues=names, reconciled_at=datetime.now(tz=UTC)
        )
    )


def record_range(
    conn: Connection,
    exchange: str,
    from_block: int,
    to_block: int,
    leader_set_id: int,
    venues: Iterable[str],
) -> None:
    """Blocks [from_block, to_block] of `exchange` are stored for the leaders of the set, for
    the `venues` (names) queried over all of it."""
    record_span(
        conn,
        reconciled_ranges,
        venues,
        exchange=exchange,
        from_block=from_block,
        to_block=to_block,
        leader_set_id=leader_set_id,
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


def subtract(spans: Sequence[Span], cut: Sequence[Span]) -> list[Span]:
    """The parts of the merged `spans` outside the merged `cut`."""
    if not cut:
        return list(spans)
    kept: list[Span] = []
    for lo, hi in spans:
        kept.extend(holes(cut, lo, hi))
    return kept


def unqueried(rows: Sequence[Row], venues: Sequence[Venue], within: Sequence[Span]) -> list[Span]:
    """The parts of the merged `within` where a venue of `venues` trades and no row of
    `rows` queried it, merged."""
    missing: list[Span] = []
    for venue in venues:
        queried = merge((lo, hi) for lo, hi, names in rows if venue.name in names.split(","))
        for lo, hi in within:
            a = max(lo, venue.first_block)
            b = hi if venue.last_block is None else min(hi, venue.last_block)
            if a <= b:
                missing.extend(holes(queried, a, b))
    return merge(missing)


def complete(rows: Iterable[Row], venues: Sequence[Venue]) -> list[Span]:
    """The blocks some row covers where every venue of `venues` (one exchange's, today's
    registry) that trades there was queried: a row's blocks count for its venues only."""
    rows = list(rows)
    reached = merge((lo, hi) for lo, hi, _ in rows)
    return subtract(reached, unqueried(rows, venues, reached))


def exchange_venues(venues: Sequence[Venue], exchange: str) -> list[Venue]:
    return [v for v in venues if v.exchange == exchange]


def _rows(
    conn: Connection, exchange: str, from_block: int, leader_set_id: int | None = None
) -> list[Row]:
    c = reconciled_ranges.c
    query = (
        select(c.from_block, c.to_block, c.venues)
        .where(c.exchange == exchange)
        .where(c.to_block >= from_block)
    )
    if leader_set_id is not None:
        query = query.where(c.leader_set_id == leader_set_id)
    return [tuple(r) for r in conn.execute(query).all()]


def _spans(
    conn: Connection,
    exchange: str,
    venues: Sequence[Venue],
    from_block: int,
    leader_set_id: int | None = None,
) -> list[Span]:
    rows = _rows(conn, exchange, from_block, leader_set_id)
    return complete(rows, exchange_venues(venues, exchange))


def gaps(
    conn: Connection,
    exchange: str,
    venues: Sequence[Venue],
    from_block: int,
    to_block: int,
    leader_set_id: int | None = None,
) -> list[Span]:
    """The sub-ranges of [from_block, to_block] that no reconciliation covered for every
    venue of `venues` (the registry) trading there (for this set of leaders, when given:
    ranges reconciled for another set do not count)."""
    spans = _spans(conn, exchange, venues, from_block, leader_set_id)
    return holes(spans, from_block, to_block)


def uncovered(
    conn: Connection,
    exchanges: Iterable[str],
    venues: Sequence[Venue],
    spans: Iterable[Span],
    leader_set_id: int | None = None,
) -> list[Span]:
    """The parts of `spans` some exchange has a gap in, merged: what must be read again."""
    return merge(
        gap
        for lo, hi in spans
        for exchange in exchanges
        for gap in gaps(conn, exchange, venues, lo, hi, leader_set_id)
    )


def venue_holes(
    conn: Connection, exchanges: Iterable[str], venues: Sequence[Venue], from_block: int
) -> list[Span]:
    """Blocks from `from_block` on that the store holds (some exchange was reconciled there)
    but that some exchange's venue trading there was never queried over: coverage recorded
    before the venue was known (a database from before venues existed, a family new to the
    registry) or under an override since corrected. What a catch-up reads again below its
    cursor, merged."""
    rows = {exchange: _rows(conn, exchange, from_block) for exchange in exchanges}
    held = merge((lo, hi) for found in rows.values() for lo, hi, _ in found)
    found = [
        hole
        for exchange, own in rows.items()
        for hole in unqueried(own, exchange_venues(venues, exchange), held)
    ]
    return [(max(lo, from_block), hi) for lo, hi in merge(found)]


def covered_through(
    conn: Connection, exchange: str, venues: Sequence[Venue], from_block: int
) -> int:
    """The last block of the unbroken coverage that starts at `from_block` (from_block - 1
    when that block itself was never covered): how far a cursor at from_block - 1 may move
    now that chunks finishing out of order may have closed a hole."""
    spans = _spans(conn, exchange, venues, from_block)
    return spans[0][1] if spans and spans[0][0] <= from_block else from_block - 1


def lowest_covered(conn: Connection, exchange: str) -> int | None:
    """The first block any reconciliation of `exchange` covered; None when none did."""
    return conn.execute(
        select(func.min(reconciled_ranges.c.from_block)).where(
            reconciled_ranges.c.exchange == exchange
        )
    ).scalar()
