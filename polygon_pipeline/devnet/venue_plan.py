"""The devnet's block plan, derived from the venue registry: which venues exist on the
devnet, from which block each trades, and where a trade in a given block settles.

Mainnet's history is compressed into one *generation* per event layout, in the order the
registry's venues first used them (V1, then V2 at the CLOB V2 cutover). Every venue of a
layout starts at its generation's first devnet block (by default 100 blocks after the
previous one); in a block each family trades on its newest started venue, so an older
generation stops trading at a cutover but stays queryable (its blocks left open, as on
mainnet). A new venue or layout in the registry therefore needs no change here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

from polygon_pipeline.chain.exchanges import EXCHANGES, MAINNET_VENUES, Venue, with_blocks

GENERATION_BLOCKS = 100  # default devnet blocks between one layout's start and the next's

# Of a block's trades, the share each family settles (a family not named: DEFAULT_SHARE).
# Shares are of all families; one that has not started yet leaves its share to the last
# started family in registry order.
FAMILY_SHARES = {"ctf": 0.6, "negrisk": 0.3, "v3": 0.1}
DEFAULT_SHARE = 0.1


def layout_order() -> list[str]:
    """The registry's layouts, in the order its venues first used them (mainnet blocks)."""
    first: dict[str, int] = {}
    for v in MAINNET_VENUES:
        first[v.layout.name] = min(first.get(v.layout.name, v.first_block), v.first_block)
    return sorted(first, key=first.__getitem__)


def plan_layouts(starts: Mapping[str, int] | None = None) -> dict[str, int]:
    """Each layout's first devnet block: as given in `starts`, otherwise GENERATION_BLOCKS
    after the previous layout's (the first layout: block 0). ValueError names a bad entry."""
    starts = dict(starts or {})
    order = layout_order()
    unknown = set(starts) - set(order)
    if unknown:
        raise ValueError(f"unknown layout {sorted(unknown)[0]!r} (layouts: {', '.join(order)})")
    plan: dict[str, int] = {}
    previous: int | None = None
    for name in order:
        block = starts.get(name, 0 if previous is None else previous + GENERATION_BLOCKS)
        if previous is None and block != 0:
            raise ValueError(f"{name}={block}: the first layout ({name}) trades from block 0")
        if previous is not None and block <= previous:
            raise ValueError(f"{name}={block}: must start after the layout before it ({previous})")
        plan[name] = previous = block
    return plan


_ENTRY = re.compile(r"^\s*(\w+)\s*=\s*(\d+)\s*$")


def parse_layout_blocks(text: str) -> dict[str, int]:
    """`v2=70` -> the full plan {"v1": 0, "v2": 70}; ValueError names the bad entry."""
    starts: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        match = _ENTRY.match(entry)
        if not match:
            raise ValueError(f"{entry!r}: expected LAYOUT=BLOCK, e.g. v2=100")
        starts[match[1]] = int(match[2])
    return plan_layouts(starts)


def devnet_venues(plan: Mapping[str, int]) -> tuple[Venue, ...]:
    """Every registry venue with its devnet blocks: from its layout's start, left open."""
    return with_blocks({v.name: (plan[v.layout.name], None) for v in MAINNET_VENUES})


def trading_venues(venues: Sequence[Venue], block: int) -> list[Venue]:
    """The venue each started family trades on in `block` (its newest started venue), in
    registry order. Ledgers hold positions, they do not trade."""
    started = [v for v in venues if v.first_block <= block and v.events == "fills"]
    newest = {v.exchange: v for v in sorted(started, key=lambda v: v.first_block)}
    return [newest[family] for family in EXCHANGES if family in newest]


def settling_venue(venues: Sequence[Venue], block: int, draw: float) -> Venue:
    """Where a trade in `block` settles, for a uniform `draw` in [0, 1). Some family always
    trades: the first layout's venues start at block 0 (plan_layouts)."""
    trading = trading_venues(venues, block)
    shares = {family: FAMILY_SHARES.get(family, DEFAULT_SHARE) for family in EXCHANGES}
    shares.pop("ledgers")
    point = draw * sum(shares.values())
    bounds = itertools.accumulate(shares[v.exchange] for v in trading)
    return next((v for v, bound in zip(trading, bounds, strict=True) if point < bound), trading[-1])
