"""A Gamma answer is checked against the ids asked for; position ids decode offline."""

from __future__ import annotations

import json

import pytest

from polygon_pipeline.gamma.markets import RESOLVED, checked_outcomes, market_outcomes
from polygon_pipeline.gamma.position_ids import decode_position_id, position_id
from polygon_pipeline.provider_errors import ForeignAnswer


def _market(ids: list[int], **extra) -> dict:
    return {
        "conditionId": "0xAB",
        "question": "Will it?",
        "outcomes": json.dumps(["Yes", "No"]),
        "clobTokenIds": json.dumps([str(i) for i in ids]),
        "events": [{"id": 5, "title": "It"}],
        **extra,
    }


def test_only_the_asked_ids_are_kept():
    rows = checked_outcomes([11], [_market([11, 12], umaResolutionStatus="resolved")])
    assert [(r.token_id, r.outcome, r.outcome_index) for r in rows] == [(11, "Yes", 0)]
    assert (rows[0].condition_id, rows[0].event_id, rows[0].state) == ("0xab", "5", RESOLVED)


def test_a_market_nobody_asked_for_makes_the_answer_foreign():
    with pytest.raises(ForeignAnswer, match="not asked for"):
        checked_outcomes([11], [_market([11, 12]), _market([21, 22])])


def test_lists_of_different_lengths_are_garbage():
    with pytest.raises(ValueError, match="3 token ids for 2 outcomes"):
        market_outcomes(_market([1, 2, 3]))


def test_position_ids_decode_offline():
    token = position_id(2, 0xABCDEF, 1)
    decoded = decode_position_id(token)
    assert decoded is not None and (decoded.module, decoded.outcome_index) == ("negrisk", 1)
    assert decoded.condition == token - 1
    assert decode_position_id(7 << 248) is None  # no such module
