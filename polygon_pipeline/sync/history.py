"""A leader's history: its fills from a chosen block up to the highest exchange cursor (the
finalized head where there is no cursor yet), with OR lists that hold only the leaders that
need it, so the calls grow with the new leaders' batches, not with all leaders.

What each leader already has is read from its coverage (store/leader_coverage_repo.py): a rerun
after a kill resumes, and a leader removed and added again is not fetched again where it
was covered. Leaders whose holes are the same are queried together, both exchanges in one
filter where their holes agree."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from polygon_pipeline.chain.exchanges import EXCHANGES, Venue, venues_of
from polygon_pipeline.chain.leader_logs import split_logs
from polygon_pipeline.chain.log_queries import active_venues
from polygon_pipeline.chain.ranges import AdaptiveRange
from polygon_pipeline.store.coverage_repo import Span, format_spans, holes
from polygon_pipeline.store.cursors_repo import history_end
from polygon_pipeline.store.fills_repo import upsert_fills
from polygon_pipeline.store.leader_coverage_repo import covered, leader_set_id, record_leader_range
from polygon_pipeline.store.leaders_repo import list_leaders, wanted_histories
from polygon_pipeline.store.transfers_repo import upsert_transfers
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import scan

Holes = dict[str, dict[str, list[Span]]]


@dataclass
class HistoryReport:
    leaders: int = 0  # leaders that had holes
    blocks_total: int = 0
    blocks_done: int = 0
    fills_found: int = 0
    fills_written: int = 0
    transfers_found: int = 0  # the ledgers' position transfers (logs)
    getlogs_calls: int = 0  # the client's own telemetry; claims use the provider's counters
    throttles: int = 0
    holes: dict[str, list[Span]] = field(default_factory=dict)  # per leader, before the run
    seconds: float = 0.0

    def holes_of(self, leader: str) -> str:
        """The blocks `leader` was missing before the run, as people read them."""
        return format_spans(self.holes.get(leader, []))

    def summary(self) -> str:
        return (
            f"history of {self.leaders} leader(s): {self.blocks_done} blocks, "
            f"{self.fills_found} fills found, {self.fills_written} written; "
            f"{self.getlogs_calls} eth_getLogs calls, {self.seconds:.1f}s"
        )


def holes_until(
    conn: Connection, end: int, wanted: dict[str, int], venues: Sequence[Venue]
) -> Holes:
    """{leader: {exchange: holes}} in each `wanted` history ({leader: history_from_block},
    from wanted_histories) up to `end`, the same block for every exchange so that their
    holes agree and one query covers them all; leaders with none missing are left out. A
    block is covered where every venue of `venues` (the registry) trading there was queried."""
    missing: Holes = {}
    for leader, start in wanted.items():
        spans = covered(conn, leader, EXCHANGES, venues)
        per_exchange = {name: holes(spans[name], start, end) for name in EXCHANGES}
        if any(per_exchange.values()):
            missing[leader] = {k: v for k, v in per_exchange.items() if v}
    return missing


def history_holes(ctx: SyncContext, leaders: Sequence[str] | None = None) -> Holes:
    """`holes_until` the highest exchange cursor: a history reaches where reconciliation
    has reached (the finalized head when nothing was reconciled yet)."""
    with ctx.engine.connect() as conn:
        end = history_end(conn)
    if end is None:
        end = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
    with ctx.engine.connect() as conn:
        return holes_until(conn, end, wanted_histories(conn, leaders), ctx.settings.venues)


def missing_blocks(missing: Holes) -> list[tuple[str, str, str]]:
    """(leader, exchange, missing blocks as text) for each hole found, in leader order."""
    return [
        (leader, exchange, format_spans(spans))
        for leader, per in sorted(missing.items())
        for exchange, spans in sorted(per.items())
    ]


@dataclass
class PendingHistories:
    leaders: list[str]  # every leader followed
    pending: dict[str, str]  # leader -> what its history run would fetch, as text

    @classmethod
    def read(cls, engine: Engine, venues: Sequence[Venue]) -> PendingHistories:
        """The leaders, and those whose wanted history has holes up to the highest cursor
        (every wanted history while nothing is reconciled yet: its run finds its end
        itself). No RPC: a sensor may call it every few seconds."""
        with engine.connect() as conn:
            leaders = list_leaders(conn)
            end = history_end(conn)
            wanted = wanted_histories(conn, leaders)
            missing = holes_until(conn, end, wanted, venues) if end is not None else None
        pending = {}
        for leader in leaders:
            if leader not in wanted:
                continue
            if missing is None:
                pending[leader] = f"from {wanted[leader]}"
            elif leader in missing:
                spans = sorted({span for spans in missing[leader].values() for span in spans})
                pending[leader] = f"missing {format_spans(spans)}"
        return cls(leaders, pending)


def backfill_history(
    ctx: SyncContext,
    leaders: Sequence[str] | None = None,
    on_progress: Callable[[HistoryReport], None] | None = None,
) -> HistoryReport:
    """Store the missing history of `leaders` (default: every leader with a wanted history)."""
    began = time.monotonic()
    missing = history_holes(ctx, leaders)
    report = HistoryReport(leaders=len(missing))
    report.holes = {
        leader: sorted({span for spans in per.values() for span in spans})
        for leader, per in missing.items()
    }
    jobs: dict[tuple[Span, ...], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for leader, per_exchange in missing.items():  # same holes -> one query for all of them
        for exchange, spans in per_exchange.items():
            jobs[tuple(spans)][leader].append(exchange)
    work: dict[tuple[tuple[Span, ...], tuple[str, ...]], list[str]] = defaultdict(list)
    for spans, by_leader in jobs.items():
        for leader, exchanges in by_leader.items():
            work[(spans, tuple(sorted(exchanges)))].append(leader)
    report.blocks_total = sum(hi - lo + 1 for spans, _ in work for lo, hi in spans)
    calls_before, throttles_before = ctx.rpc.calls["eth_getLogs"], ctx.rpc.throttles
    for (spans, exchanges), group in work.items():
        with ctx.engine.begin() as conn:
            set_id = leader_set_id(conn, group)
        planner = AdaptiveRange(ctx.settings.backfill_max_range)
        venues = venues_of(exchanges, ctx.settings.venues)
        for lo, hi, found, _providers in scan(ctx, planner, venues, group, list(spans)):
            queried = active_venues(venues, lo, hi)
            with ctx.engine.begin() as conn:  # fills and their coverage, or nothing
                fills, transfers = split_logs(found)
                written = upsert_fills(conn, fills, "backfill")
                upsert_transfers(conn, transfers, "backfill")
                for exchange in exchanges:
                    names = [v.name for v in queried if v.exchange == exchange]
                    record_leader_range(conn, exchange, lo, hi, set_id, names)
            report.blocks_done += hi - lo + 1
            report.fills_found += len(fills)
            report.transfers_found += len(transfers)
            report.fills_written += written
            report.getlogs_calls = ctx.rpc.calls["eth_getLogs"] - calls_before
            report.throttles = ctx.rpc.throttles - throttles_before
            report.seconds = time.monotonic() - began
            if on_progress:
                on_progress(report)
    report.seconds = time.monotonic() - began
    return report
