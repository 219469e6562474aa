"""The OR-topic filters, alone: what one eth_getLogs query asks for."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from polygon_pipeline.chain.exchanges import MAINNET_VENUES, VENUES, with_blocks
from polygon_pipeline.chain.log_queries import (
    MAKER_POSITION,
    ORDER_FILLED_TOPICS,
    TAKER_POSITION,
    active_venues,
    leader_batches,
    leader_filter,
)

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


def test_both_layouts_topics_are_keccak_of_their_signatures():
    v1 = "OrderFilled(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"
    v2 = (
        "OrderFilled(bytes32,address,address,uint8,uint256,uint256,uint256,uint256,bytes32,bytes32)"
    )
    assert sorted("0x" + keccak(text=s).hex() for s in (v1, v2)) == ORDER_FILLED_TOPICS


def test_maker_and_taker_filters_or_the_leaders_in_their_position():
    venues = [VENUES["ctf_v1"], VENUES["negrisk_v2"]]
    maker = leader_filter(venues, [A, B], MAKER_POSITION, (16, 31))
    assert maker == {
        "address": [VENUES["ctf_v1"].address, VENUES["negrisk_v2"].address],
        "topics": [ORDER_FILLED_TOPICS, None, ["0x" + "0" * 24 + A[2:], "0x" + "0" * 24 + B[2:]]],
        "fromBlock": "0x10",
        "toBlock": "0x1f",
    }
    taker = leader_filter(venues, [A], TAKER_POSITION)
    assert taker["topics"][2] is None and len(taker["topics"]) == 4
    assert "fromBlock" not in taker  # the watcher's subscription: no block range


def test_a_filter_needs_a_venue():
    with pytest.raises(ValueError, match="at least one venue"):
        leader_filter([], [A], MAKER_POSITION, (1, 2))


def test_batches_are_sorted_deduplicated_and_bounded():
    leaders = [f"0x{i:040x}" for i in range(250)] * 2
    batches = leader_batches(leaders, 100)
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [a for b in batches for a in b] == sorted(set(leaders))


def test_only_venues_trading_in_a_chunk_are_asked():
    venues = with_blocks({"ctf_v1": (0, 99), "ctf_v2": (100, None)})
    ctf = [v for v in venues if v.exchange == "ctf"]
    assert [v.name for v in active_venues(ctf, 90, 99)] == ["ctf_v1"]
    assert [v.name for v in active_venues(ctf, 95, 105)] == ["ctf_v1", "ctf_v2"]
    assert [v.name for v in active_venues(ctf, 100, 200)] == ["ctf_v2"]
    early = [v for v in MAINNET_VENUES if v.name == "negrisk_v1"]
    assert active_venues(early, 0, 50_505_491) == []  # before it existed: no call at all


def test_ledger_topics_are_the_erc1155_ones_and_share_the_fill_queries():
    from polygon_pipeline.chain.exchanges import VENUES
    from polygon_pipeline.chain.log_queries import event_topics
    from polygon_pipeline.chain.transfers import CONDITION_RESOLUTION

    single = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
    batch = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
    resolution = "0xb44d84d3289691f71497564b85d4233648d9dbae8cbdbb4329f301c3a0185894"
    assert resolution == CONDITION_RESOLUTION
    venues = [VENUES["ctf_v1"], VENUES["ctf_ledger"], VENUES["pm_ledger"]]
    assert event_topics(venues) == sorted([*ORDER_FILLED_TOPICS, single, batch])
    query = leader_filter(venues, [A], 3)
    assert query["address"] == [v.address for v in venues]
    assert query["topics"][3] == ["0x" + "0" * 24 + A[2:]]
