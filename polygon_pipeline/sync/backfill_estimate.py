"""The bill of a backfill before it is paid (`backfill --dry-run`, bench/capacity.py): its
chunks, `eth_getLogs` calls and time at the configured budget, counted by the planning code
the backfill itself runs (the range planner, the scheduler's chunking, the per-chunk query
units, the venue activity check), with no call to the provider. Pure: no I/O."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from polygon_pipeline.chain.exchanges import Venue
from polygon_pipeline.chain.log_queries import active_venues, batch_starts
from polygon_pipeline.chain.ranges import AdaptiveRange
from polygon_pipeline.settings import Settings
from polygon_pipeline.sync.inflight import planned_chunks
from polygon_pipeline.sync.reconcile import query_units


@dataclass(frozen=True)
class BackfillEstimate:
    blocks: int  # blocks to read
    chunks: int  # chunks the planner cuts them into
    live_chunks: int  # chunks where some venue is active: the others cost no call
    leaders: int
    batches: int  # leader OR lists per query
    roles: int  # topic positions queried per batch (maker, taker)
    queries_per_chunk: int  # one per (batch, role): the backfill's query units
    range_cap: int
    rps: float
    in_flight: int

    @property
    def calls(self) -> int:
        return self.live_chunks * self.queries_per_chunk

    @property
    def seconds(self) -> float:
        """At the budget's rate: the shared limiter is the bound when enough requests are
        in flight to keep it busy (each answered within in_flight / rps seconds)."""
        return self.calls / self.rps


@functools.lru_cache(maxsize=16)
def chunk_counts(
    ranges: tuple[tuple[int, int], ...], range_cap: int, venues: tuple[Venue, ...]
) -> tuple[int, int]:
    """(chunks, chunks with an active venue) the scheduler plans over `ranges` when the
    provider takes every range at the cap. Walked chunk by chunk (about 5 s per million),
    kept for the next leader count of a capacity table."""
    chunks = live = 0
    for lo, hi in planned_chunks(AdaptiveRange(range_cap), ranges):
        chunks += 1
        live += bool(active_venues(venues, lo, hi))
    return chunks, live


def estimate(
    settings: Settings,
    venues: Sequence[Venue],
    ranges: Sequence[tuple[int, int]],
    leaders: int,
) -> BackfillEstimate:
    """The estimate for `leaders` leaders over `ranges` at `venues` with these settings."""
    chunks, live = chunk_counts(tuple(ranges), settings.backfill_max_range, tuple(venues))
    batches = len(batch_starts(leaders, settings.leader_batch_size))
    units = query_units(range(batches), settings.follow_positions)
    return BackfillEstimate(
        blocks=sum(hi - lo + 1 for lo, hi in ranges if hi >= lo),
        chunks=chunks,
        live_chunks=live,
        leaders=leaders,
        batches=batches,
        roles=len(settings.follow_positions),
        queries_per_chunk=len(units),
        range_cap=settings.backfill_max_range,
        rps=settings.rpc_max_rps,
        in_flight=settings.rpc_in_flight,
    )


def duration(seconds: float) -> str:
    """`3d 4h`, `2h 05m`, `4m 10s`, `12s`: the two largest units."""
    s = round(seconds)
    days, s = divmod(s, 86_400)
    hours, s = divmod(s, 3_600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {s:02d}s" if minutes else f"{s}s"


def describe(e: BackfillEstimate, settings: Settings) -> list[str]:
    """The dry run's lines: what is counted, from which settings, and under what assumption."""
    roles = settings.follow_roles.replace(",", "+")
    return [
        f"chunks: {e.chunks:,} of up to {e.range_cap:,} blocks (POLYGON_BACKFILL_MAX_RANGE); "
        f"{e.live_chunks:,} reach an active venue (the others cost no call)",
        f"eth_getLogs calls: {e.calls:,} = {e.live_chunks:,} chunks x {e.roles} role(s) "
        f"({roles}, POLYGON_FOLLOW_ROLES) x {e.batches} batch(es) of up to "
        f"{settings.leader_batch_size} leaders (POLYGON_LEADER_BATCH_SIZE)",
        f"time: about {duration(e.seconds)} at {e.rps:g} requests/s (POLYGON_RPC_MAX_RPS), "
        f"{e.in_flight} in flight: assumes the budget is the bound (answers within "
        f"{e.in_flight / e.rps:.1f} s) and nothing else spends it",
        f"ranges adapt: a provider that refuses {e.range_cap:,}-block ranges or caps results "
        "makes more, smaller chunks and more calls; set POLYGON_BACKFILL_MAX_RANGE to its cap "
        "to estimate them",
    ]
