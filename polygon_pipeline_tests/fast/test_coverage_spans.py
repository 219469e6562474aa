"""Coverage arithmetic, alone: merging reconciled ranges and finding the holes."""

from __future__ import annotations

from polygon_pipeline.store.coverage_repo import holes, merge


def test_merge_joins_overlapping_and_adjacent_spans():
    assert merge([(10, 19), (0, 9), (30, 39), (35, 50), (52, 60)]) == [(0, 19), (30, 50), (52, 60)]
    assert merge([]) == []


def test_holes_are_the_uncovered_parts_of_a_range():
    spans = merge([(0, 9), (20, 29), (40, 49)])
    assert holes(spans, 0, 49) == [(10, 19), (30, 39)]
    assert holes(spans, 5, 25) == [(10, 19)]
    assert holes(spans, 50, 60) == [(50, 60)]
    assert holes([], 3, 4) == [(3, 4)]
    assert holes(spans, 20, 29) == []
