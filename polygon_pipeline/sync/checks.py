"""What an operator wants to be sure of before trusting the fills table, as figures: holes in
the reconciled coverage, the live feed against reconciliation, the watcher's heartbeat.
Read-only, no RPC; the Dagster checks (and anyone else) turn them into a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from polygon_pipeline.chain.exchanges import EXCHANGES, Venue
from polygon_pipeline.store.coverage_repo import Span, gaps
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.heartbeats_repo import last_beat
from polygon_pipeline.store.live_sightings_repo import compare_live, first_sighting_block
from polygon_pipeline.sync.watcher_status import WATCHER_ROLE


@dataclass
class CoverageHoles:
    cursors: dict[str, int | None]  # each exchange's cursor
    gaps: dict[str, list[Span]]  # each exchange's holes in the blocks looked at

    @property
    def blocks_missing(self) -> int:
        return sum(hi - lo + 1 for found in self.gaps.values() for lo, hi in found)


def coverage_holes(
    engine: Engine,
    venues: Sequence[Venue],
    spans: Sequence[Span] | None,
    reconciled: Span | None,
    exchanges: Sequence[str] | None = None,
) -> CoverageHoles:
    """Each exchange's (default: every one's) holes in `spans` (a window run's blocks), or,
    with `spans` None, over `reconciled` (from the first window materialized to the last),
    or up to that exchange's cursor if it is further."""
    found = CoverageHoles({}, {})
    with engine.connect() as conn:
        for exchange in exchanges or EXCHANGES:
            cursor = found.cursors[exchange] = get_cursor(conn, exchange)
            looked_at = spans
            if spans is None:
                lo, hi = reconciled or (None, None)
                looked_at = [(lo, None if hi is None else max(hi, cursor or hi))]
            found.gaps[exchange] = [
                hole
                for lo, hi in looked_at
                if lo is not None and hi is not None and hi >= lo
                for hole in gaps(conn, exchange, venues, lo, hi)
            ]
    return found


def live_feed_against_reconciliation(
    engine: Engine, within: Span | None = None, exchanges: Sequence[str] | None = None
) -> dict[str, dict]:
    """Per exchange (default: every one), over the blocks reconciliation has closed since the
    live feed's first sighting (and inside `within` when given): fills the feed missed, and
    fills it stored that reconciliation did not keep. Exchanges with nothing to compare yet
    are left out."""
    figures = {}
    with engine.connect() as conn:
        first = first_sighting_block(conn)
        for exchange in exchanges or EXCHANGES:
            start, cursor = first, get_cursor(conn, exchange)
            if start is None or cursor is None:
                continue
            if within is not None:
                start, cursor = max(start, within[0]), min(cursor, within[1])
            if cursor < start:
                continue
            result = compare_live(conn, exchange, start, cursor)
            figures[exchange] = {"from_block": start, "to_block": cursor, **vars(result)}
    return figures


@dataclass
class CellVerdict:
    """One exchange's window: its coverage holes, and the live feed against reconciliation
    over the part of it both have seen (`compared` None: nothing to compare yet)."""

    holes: list[Span]
    compared: Span | None
    misses: int = 0
    extras: int = 0


def cell_checks(
    engine: Engine, venues: Sequence[Venue], cells: Sequence[tuple[str, Span]]
) -> list[CellVerdict]:
    """The checks of each (exchange, window) a run materialized, each scoped to its own
    blocks (indexed reads, never the whole table)."""
    verdicts = []
    with engine.connect() as conn:
        first = first_sighting_block(conn)
        for exchange, (lo, hi) in cells:
            verdict = CellVerdict(gaps(conn, exchange, venues, lo, hi), None)
            cursor = get_cursor(conn, exchange)
            if first is not None and cursor is not None and max(first, lo) <= min(cursor, hi):
                verdict.compared = (max(first, lo), min(cursor, hi))
                found = compare_live(conn, exchange, *verdict.compared)
                verdict.misses, verdict.extras = found.misses, found.extras
            verdicts.append(verdict)
    return verdicts


@dataclass
class WatcherHealth:
    healthy: bool  # a heartbeat younger than the limit that says it is healthy
    age_s: float | None  # None: no watcher has ever run on this database
    status: dict | None  # what the watcher last said about itself


def watcher_health(engine: Engine, max_age_s: float) -> WatcherHealth:
    """Whether the watcher's last heartbeat is recent and says it is healthy (connected and
    hearing new heads)."""
    with engine.connect() as conn:
        found = last_beat(conn, WATCHER_ROLE)
    if found is None:
        return WatcherHealth(False, None, None)
    updated_at, status = found
    age = (datetime.now(tz=UTC) - updated_at).total_seconds()
    return WatcherHealth(age <= max_age_s and bool(status.get("healthy")), round(age, 1), status)
