"""`reconcile`: the one backfill routine (startup catch-up, periodic reconciliation, Dagster
partitions, the CLI). Per exchange, never per leader; exactly once; reorg-safe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from sqlalchemy import Connection, Engine

from polygon_pipeline.chain.exchanges import FILL_EXCHANGES, Venue, exchange_named, venues_of
from polygon_pipeline.chain.leader_logs import LeaderLog, decode_leader_log, split_logs
from polygon_pipeline.chain.log_queries import (
    MAKER_POSITION,
    TAKER_POSITION,
    active_venues,
    leader_batches,
    leader_filter,
)
from polygon_pipeline.chain.ranges import AdaptiveRange
from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.provider_errors import Permanent, RangeTooLarge
from polygon_pipeline.settings import Settings
from polygon_pipeline.store.coverage_repo import (
    Span,
    merge,
    record_range,
    uncovered,
    venue_holes,
)
from polygon_pipeline.store.cursors_repo import get_cursor, refresh_cursor
from polygon_pipeline.store.fills_repo import fill_versions, retract_fills, upsert_fills
from polygon_pipeline.store.leader_coverage_repo import leader_set_id
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.range_providers_repo import record_filled
from polygon_pipeline.store.transfers_repo import (
    retract_transfers,
    transfer_versions,
    upsert_transfers,
)
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.inflight import ChunkScheduler
from polygon_pipeline.sync.start_block import start_block

Batch = TypeVar("Batch")


class NothingToFollow(RuntimeError):
    """No leaders are configured, so there is nothing to reconcile."""


@dataclass
class ReconcileReport:
    exchanges: list[str]
    from_block: int
    to_block: int
    finalized: int  # the finalized head when it started: the cursor never passes it
    requested_to: int | None = None  # the last block asked for, when one was given
    blocks_total: int = 0  # blocks to scan: the range less what a catch-up found covered
    blocks_done: int = 0
    blocks_without_venues: int = 0  # no venue trades there (the registry): nothing asked
    chunks: int = 0
    fills_found: int = 0
    fills_written: int = 0
    transfers_found: int = 0  # the ledgers' position transfers (logs) of leaders
    retracted: int = 0
    getlogs_calls: int = 0  # the client's own telemetry; claims use the provider's counters
    throttles: int = 0
    range_sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        quiet = (
            f" ({self.blocks_without_venues} blocks where no venue trades by "
            "POLYGON_VENUE_BLOCKS or the registry: not asked)"
            if self.blocks_without_venues
            else ""
        )
        return (
            f"reconciled {'+'.join(self.exchanges)} blocks {self.from_block}..{self.to_block} "
            f"({self.blocks_done} blocks, {self.chunks} chunks): {self.fills_found} leader fills "
            f"found, {self.fills_written} written, {self.retracted} retracted; "
            f"{self.getlogs_calls} eth_getLogs calls{quiet}, {self.throttles} throttled, "
            f"{self.seconds:.1f}s"
        )


def _query(
    rpc: GovernedRpc,
    venues: Sequence[Venue],
    batch: list[str],
    position: int,
    lo: int,
    hi: int,
) -> list[LeaderLog]:
    try:
        return rpc.get_logs(leader_filter(venues, batch, position, (lo, hi)), decode_leader_log)
    except RangeTooLarge:
        if lo != hi:
            raise  # the planner shrinks the range
        if len(batch) == 1:
            raise Permanent(
                f"block {lo} alone holds more fills for leader {batch[0]} than the provider "
                "returns in one answer; raise the provider's result cap"
            ) from None
        half = len(batch) // 2  # one block is still too much: fewer leaders per query
        return _query(rpc, venues, batch[:half], position, lo, hi) + _query(
            rpc, venues, batch[half:], position, lo, hi
        )


def fetch_chunk(
    rpc: GovernedRpc,
    venues: Sequence[Venue],
    batches: list[list[str]],
    lo: int,
    hi: int,
    positions: Sequence[int] = (MAKER_POSITION, TAKER_POSITION),
) -> list[LeaderLog]:
    """Every leader fill (and, where ledgers are among `venues`, position transfer) in
    [lo, hi]: a query per leader batch and topic position (maker, taker), each over every
    venue active in the chunk (none active: no call at all). A log where both sides are
    leaders comes back twice and is kept once."""
    live = active_venues(venues, lo, hi)
    found: dict[tuple, LeaderLog] = {}
    for batch in batches if live else []:
        for position in positions:
            for fill in _query(rpc, live, batch, position, lo, hi):
                found[fill.key] = fill
    return list(found.values())


def stale_fills(
    engine: Engine,
    rpc: GovernedRpc,
    exchanges: Sequence[str],
    lo: int,
    hi: int,
    fetched: set[tuple],
) -> list[tuple[tuple[int, str, int], str]]:
    """Stored fills in [lo, hi] that the chain no longer has: not returned now, and their
    block's hash is no longer the canonical one. (A fill of a leader removed since is still
    canonical and stays.) Costs RPC only for fills that went missing, asked with no
    database connection held."""
    with engine.connect() as conn:
        stored = fill_versions(conn, exchanges, lo, hi)
        if "ledgers" in exchanges:
            stored.update(transfer_versions(conn, lo, hi))
    canonical: dict[int, str | None] = {}
    stale = []
    for key, (block_number, block_hash, *_rest) in stored.items():
        if key in fetched:
            continue
        if block_number not in canonical:
            header = rpc.get_block(block_number)
            canonical[block_number] = header.hash if header else None
        if canonical[block_number] != block_hash:
            stale.append((key, block_hash))
    return stale


def _catch_up_ranges(
    conn: Connection,
    exchanges: Sequence[str],
    lo: int,
    hi: int,
    cursors: Sequence[int | None],
    venues: Sequence[Venue],
    floor: int | None,
) -> list[Span]:
    """What a catch-up reads: everything up to the lowest cursor (the safety overlap), and
    above it only the blocks some exchange has not covered yet. A cursor pulled back to a
    hole below ranges already reconciled costs the hole, not the ranges above it. Below the
    cursor (down to `floor`), the blocks reconciled without a venue that trades there are
    read again too (coverage from before venues existed, or under a corrected override)."""
    if lo > hi:
        return []
    partial = [
        (a, min(b, hi)) for a, b in venue_holes(conn, exchanges, venues, floor or 0) if a <= hi
    ]
    if None in cursors:
        return merge([(lo, hi), *partial])
    overlap_end = min(min(cursors), hi)
    above = uncovered(conn, exchanges, venues, [(overlap_end + 1, hi)])
    return merge([(lo, overlap_end), *above, *partial])


def backfill_ranges(
    conn: Connection,
    settings: Settings,
    exchanges: Sequence[str],
    head: int,
    from_block: int | None,
    to_block: int | None,
    floor: int | None = None,
) -> tuple[int, int, list[Span]]:
    """(first, last, ranges to read): [from_block, to_block] clamped to `head`, or without
    `from_block` the catch-up from the cursors (see `reconcile`). Shared with the dry run,
    so its estimate reads the ranges the backfill would."""
    last = head if to_block is None else min(to_block, head)
    if from_block is not None:
        return from_block, last, [(from_block, last)]
    cursors = [get_cursor(conn, name) for name in exchanges]
    first = start_block(
        cursors, head, settings.backfill_startup_blocks, settings.backfill_safety_overlap
    )
    if floor is not None:
        first = max(first, floor)
    venues = venues_of(exchanges, settings.venues)
    return first, last, _catch_up_ranges(conn, exchanges, first, last, cursors, venues, floor)


def query_units(batches: Sequence[Batch], positions: Sequence[int]) -> list[tuple[Batch, int]]:
    """One `eth_getLogs` per chunk for each (leader batch, topic position): what a chunk costs."""
    return [(batch, position) for batch in batches for position in positions]


def scan(
    ctx: SyncContext,
    planner: AdaptiveRange,
    venues: Sequence[Venue],
    leaders: Sequence[str],
    ranges: Sequence[tuple[int, int]],
) -> Iterator[tuple[int, int, list[LeaderLog], set[str]]]:
    """(lo, hi, logs, providers) for every chunk of `ranges`, in the order chunks finish
    (not block order), with up to POLYGON_RPC_MAX_CONCURRENCY queries in flight: every fill
    (and, with the ledgers among `venues`, position transfer) of these leaders at these
    venues, once each, with block timestamps, and the labels of the providers whose answers
    they came from."""
    rpc, settings = ctx.rpc, ctx.settings

    def fetch(unit: tuple[list[str], int], lo: int, hi: int) -> tuple[list[LeaderLog], set[str]]:
        batch, position = unit
        with rpc.answering() as who:
            return fetch_chunk(rpc, venues, [batch], lo, hi, (position,)), who

    units = query_units(
        leader_batches(leaders, settings.leader_batch_size), settings.follow_positions
    )
    scheduler = ChunkScheduler(planner, ranges, units, fetch, settings.rpc_in_flight)
    for chunk in scheduler.chunks():
        found = list({f.key: f for part, _ in chunk.results for f in part}.values())
        providers = {label for _, who in chunk.results for label in who}
        fills = ctx.block_times.fill_in(rpc, found, settings.verify_block_hashes)
        yield chunk.lo, chunk.hi, fills, providers


def reconcile(
    ctx: SyncContext,
    exchanges: Sequence[str],
    from_block: int | None = None,
    to_block: int | None = None,
    on_progress: Callable[[ReconcileReport], None] | None = None,
    up_to: Literal["finalized", "latest"] = "finalized",
    floor: int | None = None,
) -> ReconcileReport:
    """Store every leader fill of `exchanges` in [from_block, to_block], clamped to the
    finalized head. Without `from_block`, start from the cursor (less the safety overlap),
    or `POLYGON_BACKFILL_STARTUP_BLOCKS` below the head when there is no cursor yet.

    `up_to="latest"` (the watcher's gap-fill) goes on to the latest block; the cursor still
    never passes the finalized head, so those blocks are reconciled again once final.

    `floor` bounds a catch-up from below: blocks under it belong to someone else (Dagster's
    block windows, reconciled by their own runs), so a cursor held back by older history
    is not chased."""
    began = time.monotonic()
    settings, rpc = ctx.settings, ctx.rpc
    chosen = [exchange_named(name) for name in dict.fromkeys(exchanges)]
    names = [e.name for e in chosen]
    with ctx.engine.connect() as conn:
        leaders = list_leaders(conn)
    if not leaders:
        raise NothingToFollow("no leaders configured (polygon-pipeline leaders add ADDRESS)")
    finalized = finalized_head(rpc, settings.confirmation_blocks)
    head = finalized if up_to == "finalized" else max(finalized, rpc.block_number())
    with ctx.engine.connect() as conn:
        first, last, ranges = backfill_ranges(
            conn, settings, names, head, from_block, to_block, floor
        )
    report = ReconcileReport(names, first, last, finalized, to_block)
    report.blocks_total = sum(hi - lo + 1 for lo, hi in ranges if hi >= lo)
    calls_before, throttles_before = rpc.calls["eth_getLogs"], rpc.throttles
    planner = AdaptiveRange(settings.backfill_max_range)
    venues = venues_of(report.exchanges, settings.venues)
    with ctx.engine.begin() as conn:
        set_id = leader_set_id(conn, leaders)
    for lo, hi, found, providers in scan(ctx, planner, venues, leaders, ranges):
        stale = stale_fills(ctx.engine, rpc, report.exchanges, lo, hi, {f.key for f in found})
        with ctx.engine.begin() as conn:  # a chunk's fills, coverage and cursor, or nothing
            retracted = retract_fills(conn, stale)
            retract_transfers(conn, stale)
            fills, transfers = split_logs(found)
            written = upsert_fills(conn, fills, "backfill")
            upsert_transfers(conn, transfers, "backfill")
            final_hi = min(hi, finalized)  # unfinalized blocks count as covered only later
            if final_hi >= lo:
                queried = active_venues(venues, lo, hi)
                for exchange in chosen:
                    names = [v.name for v in queried if v.exchange == exchange.name]
                    record_range(conn, exchange.name, lo, final_hi, set_id, names)
                    if names and exchange.name in FILL_EXCHANGES:  # what the audit proves
                        record_filled(conn, exchange.name, lo, final_hi, providers)
                    refresh_cursor(conn, exchange.name, venues)
        report.chunks += 1
        report.blocks_done += hi - lo + 1
        if not active_venues(venues, lo, hi):
            report.blocks_without_venues += hi - lo + 1
        report.fills_found += len(fills)
        report.fills_written += written
        report.transfers_found += len(transfers)
        report.retracted += retracted
        report.getlogs_calls = rpc.calls["eth_getLogs"] - calls_before
        report.throttles = rpc.throttles - throttles_before
        report.range_sizes = planner.used
        report.seconds = time.monotonic() - began
        if on_progress:
            on_progress(report)
    report.seconds = time.monotonic() - began
    return report
