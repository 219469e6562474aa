"""The OR-topic log filters of a backfill: per block chunk, one maker query and one taker
query per batch of leaders, covering every requested exchange in one `address` list."""

from __future__ import annotations

from collections.abc import Sequence

from polygon_pipeline.chain.addresses import address_topic
from polygon_pipeline.chain.exchanges import ORDER_FILLED_TOPIC, Exchange

MAKER_POSITION, TAKER_POSITION = 2, 3


def leader_batches(leaders: Sequence[str], batch_size: int) -> list[list[str]]:
    ordered = sorted(set(leaders))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def leader_filter(
    exchanges: Sequence[Exchange], leaders: Sequence[str], position: int, lo: int, hi: int
) -> dict:
    """`eth_getLogs` filter: OrderFilled from these exchanges with a leader at topic `position`
    (2 = maker, 3 = taker). Values in one position are ORed; positions are ANDed."""
    topics: list = [ORDER_FILLED_TOPIC, None, None, None][: position + 1]
    topics[position] = [address_topic(a) for a in leaders]
    return {
        "address": [e.address for e in exchanges],
        "topics": topics,
        "fromBlock": hex(lo),
        "toBlock": hex(hi),
    }
