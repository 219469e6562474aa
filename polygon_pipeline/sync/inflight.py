"""Requests in flight: a block range cut into chunks by the adaptive planner, each chunk's
queries run on a few threads at once, finished chunks handed back as they complete.

One request at a time leaves a paid budget idle while the provider thinks (25 requests/s at
150 ms each needs about four in flight). How many are really in flight, in this process and
all others together, is still decided by the shared limiter's slots and rate; this module
only keeps enough work ready. A chunk whose range the provider refuses is planned again at
the smaller size (never skipped); a size not yet known to work is tried alone first, so a
refusal costs one call, not one per thread.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from polygon_pipeline import backoff
from polygon_pipeline.chain.ranges import AdaptiveRange
from polygon_pipeline.provider_errors import RangeTooLarge

Unit = TypeVar("Unit")
Result = TypeVar("Result")


class _Superseded(Exception):
    """Not sent: another thread was just refused a range this large."""


@dataclass(eq=False)
class Chunk(Generic[Result]):
    """A planned block range and the answers of its queries so far."""

    lo: int
    hi: int
    left: int  # queries not yet answered
    results: list[Result] = field(default_factory=list)
    refused: bool = False

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


def plan_next(planner: AdaptiveRange, unplanned: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The next chunk (lo, hi): from the lowest unplanned range (a heap), as large as the
    planner allows now; what is left of that range goes back on the heap."""
    if not unplanned:
        return None
    start, end = heapq.heappop(unplanned)
    lo, hi = planner.next_chunk(start, end)
    if hi < end:
        heapq.heappush(unplanned, (hi + 1, end))
    return lo, hi


def planned_chunks(
    planner: AdaptiveRange, ranges: Sequence[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    """The chunks a ChunkScheduler plans over `ranges` when the provider refuses none: what a
    dry run counts."""
    unplanned = [(lo, hi) for lo, hi in ranges if lo <= hi]
    heapq.heapify(unplanned)
    while (planned := plan_next(planner, unplanned)) is not None:
        yield planned


class ChunkScheduler(Generic[Unit, Result]):
    """Plans chunks over `ranges` and runs `fetch(unit, lo, hi)` for every unit (a
    leader batch and a role) of each chunk on `in_flight` threads. As many again wait in
    the pool's queue, so a thread that finishes starts the next query at once instead of
    waiting for the caller to store a chunk."""

    def __init__(
        self,
        planner: AdaptiveRange,
        ranges: Sequence[tuple[int, int]],
        units: Sequence[Unit],
        fetch: Callable[[Unit, int, int], Result],
        in_flight: int,
    ):
        if not units:
            raise ValueError("a chunk needs at least one query")
        self.planner = planner
        self.units = list(units)
        self.fetch = fetch
        self.in_flight = max(1, in_flight)
        self._unplanned = [(lo, hi) for lo, hi in ranges if lo <= hi]
        heapq.heapify(self._unplanned)
        self._pending: deque[tuple[Chunk[Result], Unit]] = deque()
        self._running: dict[Future, tuple[Chunk[Result], Unit]] = {}
        self._proven = 0  # the largest chunk size answered since the last refusal
        # Set by a thread the moment the provider refuses a range, before this scheduler has
        # shrunk the planner: queries already queued at that size or above are not sent.
        self._too_large: float = math.inf

    def chunks(self) -> Iterator[Chunk[Result]]:
        """Finished chunks, in the order they finish (not block order). Leaving the loop
        early (an error, a kill) cancels what was not sent; what was sent completes."""
        with ThreadPoolExecutor(self.in_flight, thread_name_prefix="getlogs") as pool:
            try:
                while True:
                    self._send(pool)
                    if not self._running:
                        return
                    done, _ = wait(self._running, return_when=FIRST_COMPLETED)
                    for future in done:
                        finished = self._settle(future)
                        if finished is not None:
                            yield finished
            except BaseException as exc:
                if not isinstance(exc, (Exception, GeneratorExit)):
                    # An interrupt (Ctrl-C, a Dagster run's termination): the process is
                    # stopping, and the pool would wait out every thread's back-off first.
                    backoff.stop_waiting()
                raise
            finally:
                for future in self._running:
                    future.cancel()

    def _send(self, pool: ThreadPoolExecutor) -> None:
        while len(self._running) < 2 * self.in_flight:
            if not self._pending and not self._plan():
                return
            chunk, unit = self._pending[0]
            if chunk.size > self._proven and self._running:
                return  # a size not yet known to work goes alone
            self._pending.popleft()
            self._running[pool.submit(self._fetch, chunk, unit)] = (chunk, unit)

    def _fetch(self, chunk: Chunk[Result], unit: Unit) -> Result:
        """Runs on a pool thread."""
        if chunk.size >= self._too_large:
            raise _Superseded
        try:
            return self.fetch(unit, chunk.lo, chunk.hi)
        except RangeTooLarge:
            self._too_large = min(self._too_large, chunk.size)
            raise

    def _plan(self) -> bool:
        planned = plan_next(self.planner, self._unplanned)
        if planned is None:
            return False
        chunk: Chunk[Result] = Chunk(*planned, left=len(self.units))
        self._pending.extend((chunk, unit) for unit in self.units)
        return True

    def _settle(self, future: Future) -> Chunk[Result] | None:
        chunk, _ = self._running.pop(future)
        try:
            result = future.result()
        except RangeTooLarge as exc:
            # News unless an earlier refusal already shrank the planner below this chunk; a
            # sibling query superseded by this very refusal may have been read first, marking
            # the chunk re-planned: the planner must still shrink, or every chunk planned at
            # the old size is superseded again, forever.
            if not chunk.refused or chunk.size <= self.planner.size:
                self._refused(chunk, exc.span)
            return None
        except _Superseded:
            self._replan({chunk})
            return None
        if chunk.refused:
            return None  # planned again already; this answer is for the old range
        self._proven = max(self._proven, chunk.size)
        chunk.results.append(result)
        chunk.left -= 1
        if chunk.left:
            return None
        self.planner.succeeded(chunk.size)
        return chunk

    def _refused(self, chunk: Chunk[Result], span: int | None) -> None:
        """Shrink the planner, and plan this chunk again, with every chunk now too large
        whose queries are not all on the wire yet (what is on the wire is answered and
        dropped)."""
        self.planner.shrink(chunk.size, span)
        self._proven = min(self._proven, self.planner.size)
        again = {chunk}
        for future, (c, _) in list(self._running.items()):
            if (c is chunk or c.size > self.planner.size) and future.cancel():
                del self._running[future]
                again.add(c)
        again.update(c for c, _ in self._pending if c.size > self.planner.size)
        self._replan(again)
        self._too_large = math.inf  # what is left queued fits the shrunk planner

    def _replan(self, chunks: set[Chunk[Result]]) -> None:
        self._pending = deque((c, u) for c, u in self._pending if c not in chunks)
        for c in chunks:
            if not c.refused:
                c.refused = True
                heapq.heappush(self._unplanned, (c.lo, c.hi))
