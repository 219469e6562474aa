"""The date -> block search, alone: fake chains of timestamps (the search is pure logic; the
devnet test in test_backfill_dry_run.py runs it through the governed client)."""

from __future__ import annotations

import bisect
import random

import pytest

from polygon_pipeline.chain.block_at_time import AfterHead, first_block_at
from polygon_pipeline_tests.helpers.rpc import date_search_bound

GENESIS = 1_590_824_836  # 2020-05-30, Polygon's first block


class FakeChain:
    """Block timestamps from a list, counting every header asked for."""

    def __init__(self, timestamps: list[int]):
        self.timestamps = timestamps
        self.asked: list[int] = []

    def timestamp_of(self, number: int) -> int:
        self.asked.append(number)
        return self.timestamps[number]

    def truth(self, target: int) -> int:
        return bisect.bisect_left(self.timestamps, target)


def uneven_chain(blocks: int, seed: int) -> FakeChain:
    """1-4 s between blocks, with runs of equal timestamps (a devnet mining on demand)."""
    rng = random.Random(seed)
    timestamps, now = [], GENESIS
    for _ in range(blocks):
        timestamps.append(now)
        now += rng.choice([0, 0, 1, 2, 2, 2, 3, 4])
    return FakeChain(timestamps)


@pytest.mark.parametrize("seed", range(5))
def test_finds_the_first_block_at_or_after_every_moment(seed):
    chain = uneven_chain(5_000, seed)
    head = len(chain.timestamps) - 1
    for target in range(GENESIS - 3, chain.timestamps[-1] + 1, 97):
        chain.asked.clear()
        assert first_block_at(target, chain.timestamp_of, head) == chain.truth(target)
        assert len(chain.asked) == len(set(chain.asked))  # each header once
        assert len(chain.asked) <= date_search_bound(head)


def test_a_mainnet_sized_chain_takes_a_handful_of_headers():
    """90M blocks, 2.3 s apart for the first 30M and 2.0 s since: the guess from the head's
    ~2 s blocks and the interpolation find any day in a few calls, not log2(90M) = 27."""

    class Mainnet:
        asked = 0

        @staticmethod
        def ts(n: int) -> int:
            return GENESIS + (int(n * 2.3) if n < 30_000_000 else 69_000_000 + 2 * (n - 30_000_000))

        def timestamp_of(self, n: int) -> int:
            self.asked += 1
            return self.ts(n)

    head = 90_000_000
    for block in (0, 1, 12_345_678, 29_999_999, 30_000_000, 85_050_371, head - 43_200, head):
        chain = Mainnet()
        assert first_block_at(Mainnet.ts(block), chain.timestamp_of, head) == block
        assert chain.asked <= 12, block


def test_before_genesis_is_block_zero_and_after_the_head_is_refused():
    chain = uneven_chain(100, seed=1)
    assert first_block_at(GENESIS - 86_400, chain.timestamp_of, 99) == 0
    with pytest.raises(AfterHead, match=r"is after the chain's head, block 99 at 2020-05-30"):
        first_block_at(chain.timestamps[-1] + 1, chain.timestamp_of, 99)
    assert first_block_at(chain.timestamps[-1], chain.timestamp_of, 99) == chain.truth(
        chain.timestamps[-1]
    )
