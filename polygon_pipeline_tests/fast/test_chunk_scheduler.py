"""The chunk scheduler's bookkeeping when answers are read in an unlucky order: a refused
range's answer read after a sibling query of the same chunk was superseded by it."""

from __future__ import annotations

import math
from concurrent.futures import Future

from polygon_pipeline.chain.ranges import AdaptiveRange
from polygon_pipeline.provider_errors import RangeTooLarge
from polygon_pipeline.sync.inflight import Chunk, ChunkScheduler, _Superseded


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


def test_a_refusal_read_after_its_superseded_sibling_still_shrinks_the_planner():
    """Seen as a livelock under load: the maker query of a 200-block chunk refused (the
    threads stop sending that size), the taker query superseded; settling the taker first
    marked the chunk re-planned and the refusal was then ignored, so the planner never shrank
    and every chunk planned at 200 blocks was superseded again, forever."""
    planner = AdaptiveRange(200)
    scheduler = ChunkScheduler(planner, [(0, 399)], ["maker", "taker"], lambda *_: [], 2)
    chunk: Chunk = Chunk(0, 199, left=2)
    refused = _failed(RangeTooLarge("range too large", span=50))
    superseded = _failed(_Superseded())
    scheduler._running = {superseded: (chunk, "taker"), refused: (chunk, "maker")}
    scheduler._too_large = chunk.size  # what the refused thread set before it raised

    assert scheduler._settle(superseded) is None
    assert scheduler._settle(refused) is None

    assert planner.size == 50
    assert scheduler._too_large == math.inf  # sending goes on, at the shrunk size
    assert min(lo for lo, _ in scheduler._unplanned) == 0  # the chunk is read again
