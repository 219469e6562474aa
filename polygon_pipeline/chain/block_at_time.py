"""The first block at or after a moment: history asked for by date (`backfill --from-date`,
`leaders add --history-from-date`) starts there.

Block numbers are found from block timestamps with a handful of header calls instead of a
bisection over the whole chain (~27 calls on Polygon): the first guess counts back from the
head at Polygon's ~2 s blocks, later guesses interpolate between the closest headers known,
held near the middle when interpolation is not paying off (ITP's projection), so an uneven
chain still ends within a bisection's steps plus ITP_SLACK_STEPS. Each header is fetched
once per search."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.provider_errors import Transient

POLYGON_BLOCK_SECONDS = 2.0
ITP_SLACK_STEPS = 2  # steps the search may take beyond a bisection's, to follow interpolation


class AfterHead(ValueError):
    """The moment asked for is later than the chain's newest block."""


def utc_text(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def first_block_at(
    target: int,
    timestamp_of: Callable[[int], int],
    head: int,
    block_seconds: float = POLYGON_BLOCK_SECONDS,
) -> int:
    """The lowest block number whose timestamp is >= `target` (unix seconds), among blocks
    0..`head` (timestamps never decrease). Block 0 when the moment precedes genesis;
    AfterHead when it follows the head. `timestamp_of(n)` is asked at most once per n."""
    known: dict[int, int] = {}

    def ts(number: int) -> int:
        if number not in known:
            known[number] = timestamp_of(number)
        return known[number]

    if ts(head) < target:
        raise AfterHead(
            f"{utc_text(target)} is after the chain's head, block {head} at {utc_text(ts(head))}"
        )
    lo, hi = 0, head  # target <= ts(hi); ts(lo) < target, except block 0 (not yet asked)
    guess: float | None = head - math.ceil((ts(head) - target) / block_seconds)
    steps_left: int | None = None  # set from the interval when interpolation starts
    while hi - lo > 1:
        if guess is None:
            if ts(lo) >= target:  # only block 0 can be: the moment precedes genesis
                return 0
            if steps_left is None:
                steps_left = math.ceil(math.log2(hi - lo)) + ITP_SLACK_STEPS
            guess = _itp_guess(lo, hi, ts(lo), ts(hi), target, steps_left)
            steps_left = max(0, steps_left - 1)
        probe = min(max(round(guess), lo + 1), hi - 1)
        if ts(probe) >= target:
            hi = probe
        else:
            lo = probe
        guess = None
    return 0 if lo == 0 and ts(0) >= target else hi


def _itp_guess(lo: int, hi: int, ts_lo: int, ts_hi: int, target: int, steps_left: int) -> float:
    """The next block to ask: the interpolated one (aimed half a second before the moment,
    so a run of blocks with its own whole-second timestamp is halved, not walked), kept
    close enough to the middle that the search ends within `steps_left` steps (the
    projection of the ITP method, Oliveira and Takahashi 2020: log2 of the first interval
    plus ITP_SLACK_STEPS in all)."""
    width = hi - lo
    interpolated = lo + (target - 0.5 - ts_lo) * width / (ts_hi - ts_lo)
    middle = (lo + hi) / 2
    slack = max(0.0, 0.5 * 2**steps_left - width / 2)
    if abs(interpolated - middle) <= slack:
        return interpolated
    return middle - math.copysign(slack, middle - interpolated)


def first_block_at_time(rpc: GovernedRpc, when: datetime) -> tuple[int, int]:
    """(block, header calls): the first block at or after `when` (naive = UTC), through the
    governed client, from the latest block down."""
    moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    before = sum(rpc.calls.values())
    latest = rpc.get_block("latest")
    if latest is None:
        raise Transient("eth_getBlockByNumber: the provider has no latest block")

    def timestamp_of(number: int) -> int:
        if number == latest.number:
            return latest.timestamp
        header = rpc.get_block(number)
        if header is None:
            raise Transient(f"eth_getBlockByNumber: the provider has no block {number}")
        return header.timestamp

    block = first_block_at(int(moment.timestamp()), timestamp_of, latest.number)
    return block, sum(rpc.calls.values()) - before
