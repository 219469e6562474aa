"""The OR-topic log filters of a backfill and of the watcher: per block chunk, one maker
query and one taker query per batch of leaders, covering every venue of the requested
exchanges in one `address` list and every event layout in one topic0 list. The ledgers'
ERC-1155 transfers (from = topic 2, to = topic 3) ride in the same two queries."""

from __future__ import annotations

from collections.abc import Sequence

from polygon_pipeline.chain.addresses import address_topic
from polygon_pipeline.chain.events import LAYOUTS
from polygon_pipeline.chain.exchanges import Venue
from polygon_pipeline.chain.transfers import TRANSFER_TOPICS

# Every known layout's topic0 in every query: an OR in one position costs no call, and a
# venue found emitting another layout than expected is still seen.
ORDER_FILLED_TOPICS = sorted(layout.topic0 for layout in LAYOUTS.values())

MAKER_POSITION, TAKER_POSITION = 2, 3
_EVENT_TOPICS = {"fills": ORDER_FILLED_TOPICS, "transfers": TRANSFER_TOPICS}


def event_topics(venues: Sequence[Venue]) -> list[str]:
    """The topic0 values these venues emit: OrderFilled layouts, ERC-1155 transfers or both
    (an exchange never emits a transfer event of its own, nor a ledger an OrderFilled)."""
    return sorted({topic for v in venues for topic in _EVENT_TOPICS[v.events]})


def batch_starts(count: int, batch_size: int) -> range:
    """Where each batch of `count` leaders starts: one OR list per batch, so one query per
    batch (the dry run counts them without any addresses)."""
    return range(0, count, batch_size)


def leader_batches(leaders: Sequence[str], batch_size: int) -> list[list[str]]:
    ordered = sorted(set(leaders))
    return [ordered[i : i + batch_size] for i in batch_starts(len(ordered), batch_size)]


def active_venues(venues: Sequence[Venue], lo: int, hi: int) -> list[Venue]:
    """The venues that can hold a fill in [lo, hi]: none means the chunk costs no call."""
    return [v for v in venues if v.active(lo, hi)]


def leader_filter(
    venues: Sequence[Venue],
    leaders: Sequence[str],
    position: int,
    blocks: tuple[int, int] | None = None,
) -> dict:
    """`eth_getLogs` / `logs` subscription filter: OrderFilled of any layout (ERC-1155
    transfers, for ledgers) from these venues with a leader at topic `position` (2 = maker
    or sender, 3 = taker or receiver), over `blocks` (lo, hi)
    when given. Values in one position are ORed; positions are ANDed."""
    if not venues:
        raise ValueError("a log filter needs at least one venue")
    topics: list = [event_topics(venues), None, None, None][: position + 1]
    topics[position] = [address_topic(a) for a in leaders]
    query: dict = {"address": [v.address for v in venues], "topics": topics}
    if blocks is not None:
        query.update(fromBlock=hex(blocks[0]), toBlock=hex(blocks[1]))
    return query
