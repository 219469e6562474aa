"""Driving the test devnet through its block plan: one generation per event layout."""

from __future__ import annotations

from polygon_pipeline.chain.exchanges import MAINNET_VENUES

_MAX_BLOCKS = 40  # ExchangeV3 settles 10 % of matches: ~150 matches make missing it ~1e-7


def generation_spans(devnet, fills_per_block: int = 15) -> dict[str, tuple[int, int]]:
    """Per layout: blocks from its generation's start to the first block by which every
    registry venue of that layout has traded (mining the live generation on until it has).
    Fails if a generation ended, or 40 more blocks passed, without one of its venues."""
    starts = sorted(devnet.info()["layout_blocks"].items(), key=lambda item: item[1])
    spans = {}
    for i, (layout, start) in enumerate(starts):
        last = starts[i + 1][1] - 1 if i + 1 < len(starts) else None
        venues = {v.name for v in MAINNET_VENUES if v.layout.name == layout and v.events == "fills"}
        spans[layout] = (start, _all_traded_by(devnet, start, last, venues, fills_per_block))
    return spans


def _all_traded_by(devnet, start: int, last: int | None, venues: set[str], fills: int) -> int:
    if devnet.head() < start:
        devnet.mine(blocks=start - devnet.head(), fills_per_block=fills)
    for _ in range(_MAX_BLOCKS):
        head = devnet.head()
        to = head if last is None else min(head, last)
        seen: set[str] = set()
        for row in sorted(devnet.truth(start, to), key=lambda r: r["block_number"]):
            seen.add(row["venue"])
            if seen >= venues:
                return row["block_number"]
        if to == last:
            break
        devnet.mine(fills_per_block=fills)
    raise AssertionError(f"venues {sorted(venues - seen)} never traded from block {start}")
