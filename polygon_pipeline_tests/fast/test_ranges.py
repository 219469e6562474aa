"""The adaptive range planner, alone: no provider needed to see how it shrinks and grows."""

from __future__ import annotations

import pytest

from polygon_pipeline.chain.ranges import PROBE_AFTER_CHUNKS, AdaptiveRange


def test_starts_at_the_cap_and_never_passes_the_last_block():
    planner = AdaptiveRange(500)
    assert planner.next_chunk(100, 10_000) == (100, 599)
    assert planner.next_chunk(9_900, 10_000) == (9_900, 10_000)


def test_a_refusal_takes_the_span_the_provider_names_else_halves():
    named = AdaptiveRange(500)
    named.shrink(500, 10)
    assert named.next_chunk(0, 10_000) == (0, 9)
    halved = AdaptiveRange(500)
    halved.shrink(500, None)
    assert halved.size == 250
    halved.shrink(250, 2_000)  # a span above the refused one cannot be right: shrink anyway
    assert halved.size == 249


def test_a_late_refusal_of_an_older_chunk_never_grows_the_size():
    planner = AdaptiveRange(500)
    planner.shrink(500, 10)
    planner.shrink(500, 100)  # planned before the first shrink, refused after it
    assert planner.size == 10


def test_grows_back_only_every_probe_interval():
    planner = AdaptiveRange(500)
    planner.shrink(500, 10)
    for _ in range(PROBE_AFTER_CHUNKS - 1):
        planner.succeeded(10)
        assert planner.size == 10
    planner.succeeded(10)
    assert planner.size == 20
    assert planner.used == [10] * PROBE_AFTER_CHUNKS


def test_one_refused_block_is_the_end_of_shrinking():
    planner = AdaptiveRange(5)
    with pytest.raises(ValueError, match="single block"):
        planner.shrink(1, None)
    with pytest.raises(ValueError, match="at least 1 block"):
        AdaptiveRange(0)
