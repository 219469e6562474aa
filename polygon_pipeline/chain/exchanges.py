"""The venue registry: every Polymarket exchange contract on Polygon that emits a leader's
order fills, with its event layout, collateral and the blocks it trades in.

An *exchange* is a stable family name (`ctf`, `negrisk`, ...) that cursors, coverage and
Dagster partitions are keyed by; each family has one *venue* per contract generation (V1
until the CLOB V2 cutover, V2 since). A backfill of a family queries, per chunk, every venue
of it active in the chunk, all in one filter, so generations never add calls. Sources for
every address and block: README, "Chain facts".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from polygon_pipeline.chain.events import V1, V2, Layout

POLYGON_CHAIN_ID = 137

USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
PUSD = "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"


@dataclass(frozen=True)
class Exchange:
    """An exchange family: the name cursors, coverage and partitions are keyed by."""

    name: str
    description: str


@dataclass(frozen=True)
class Venue:
    """One exchange contract: where a family's fills were emitted during [first_block,
    last_block] (last_block None: still trading)."""

    name: str  # "ctf_v1", "ctf_v2", ...: stored with every fill
    exchange: str  # the family
    address: str  # lowercase hex
    layout: Layout
    collateral: str  # the collateral token's address
    first_block: int
    last_block: int | None = None
    # "fills": an exchange's OrderFilled; "transfers": a ledger's ERC-1155 transfers (for a
    # ledger, `layout` names the generation it serves: the devnet plans its blocks by it)
    events: str = "fills"

    def active(self, lo: int, hi: int) -> bool:
        """Whether the venue can have emitted a fill in blocks [lo, hi]."""
        return self.first_block <= hi and (self.last_block is None or self.last_block >= lo)


EXCHANGES: dict[str, Exchange] = {
    e.name: e
    for e in (
        Exchange("ctf", "CTF Exchange: binary markets"),
        Exchange("negrisk", "NegRisk CTF Exchange: multi-outcome (negative risk) markets"),
        Exchange("v3", "ExchangeV3: Protocol V2 markets and Combos (PositionManager ids)"),
        Exchange("ledgers", "ERC-1155 ledgers: a leader's position transfers (docs/positions.md)"),
    )
}

# Mainnet facts (README, "Chain facts", names the source of each). First blocks are the
# deployment blocks (a contract emits nothing before it exists); ExchangeV3's is not
# published, so it takes the first V2 deployment as a lower bound: a venue queried before it
# traded costs no call (all venues share each filter). V1's last block is left open for the
# same reason, so a late V1 fill is still found.
MAINNET_VENUES: tuple[Venue, ...] = (
    Venue("ctf_v1", "ctf", "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e", V1, USDC_E, 33_605_403),
    Venue(
        "negrisk_v1",
        "negrisk",
        "0xc5d563a36ae78145c45a50134d48a1215220f80a",
        V1,
        USDC_E,
        50_505_492,
    ),
    Venue("ctf_v2", "ctf", "0xe111180000d2663c0091e4f400237545b87b996b", V2, PUSD, 84_902_353),
    Venue(
        "negrisk_v2",
        "negrisk",
        "0xe2222d279d744050d28e00520010520000310f59",
        V2,
        PUSD,
        85_058_176,
    ),
    Venue("v3", "v3", "0xe3333700ca9d93003f00f0f71f8515005f6c00aa", V2, PUSD, 84_902_353),
    # The two ERC-1155 ledgers (docs/chain.md, "Ledgers"): ConditionalTokens from its
    # deployment block (Polymarket's subgraph manifests), PositionManager from the first V2
    # deployment (its own block is not published: a lower bound, as for ExchangeV3).
    Venue(
        "ctf_ledger",
        "ledgers",
        "0x4d97dcd97ec945f40cf65f87097ace5ea0476045",
        V1,
        USDC_E,
        4_023_686,
        events="transfers",
    ),
    Venue(
        "pm_ledger",
        "ledgers",
        "0x006f54f7f9a22e0000cc2ab60031000000ae9fef",
        V2,
        PUSD,
        84_902_353,
        events="transfers",
    ),
)

VENUE_BY_ADDRESS: dict[str, Venue] = {v.address: v for v in MAINNET_VENUES}
# The families whose venues emit fills (every family but the ledgers)
FILL_EXCHANGES: tuple[str, ...] = tuple(
    dict.fromkeys(v.exchange for v in MAINNET_VENUES if v.events == "fills")
)
VENUES: dict[str, Venue] = {v.name: v for v in MAINNET_VENUES}


def exchange_named(name: str) -> Exchange:
    """Look an exchange family up by name, with an error that lists the valid names."""
    try:
        return EXCHANGES[name]
    except KeyError:
        raise ValueError(
            f"unknown exchange {name!r}: expected one of {', '.join(EXCHANGES)}"
        ) from None


def venues_of(exchanges: Iterable[str], venues: Sequence[Venue] = MAINNET_VENUES) -> list[Venue]:
    """The venues of these families, in registry order."""
    wanted = {exchange_named(name).name for name in exchanges}
    return [v for v in venues if v.exchange in wanted]


_BLOCKS = re.compile(r"^(\d+)\.\.(\d*)$")


def parse_venue_blocks(text: str | None) -> dict[str, tuple[int, int | None]]:
    """`ctf_v1=0..99,ctf_v2=100..` -> {venue: (first, last or None)}; None (not set) -> {}.
    ValueError names the bad entry. An override that is set but empty, or names a venue
    twice, is refused rather than guessed at: the first would put every venue at its
    mainnet blocks (on another chain: nothing queried), the second would keep one of two
    windows."""
    if text is None:
        return {}
    entries = [part.strip() for part in text.split(",") if part.strip()]
    if not entries:
        raise ValueError(
            "is set but empty: unset it to use the mainnet blocks, or give "
            "VENUE=FIRST..LAST entries (the devnet prints its own)"
        )
    blocks: dict[str, tuple[int, int | None]] = {}
    for entry in entries:
        name, _, span = entry.partition("=")
        name = name.strip()
        if name not in VENUES:
            raise ValueError(f"unknown venue {name!r} (venues: {', '.join(VENUES)})")
        if name in blocks:
            raise ValueError(f"venue {name!r} is given twice: give each venue once")
        match = _BLOCKS.match(span.strip())
        if not match:
            raise ValueError(f"{entry!r}: expected {name}=FIRST..LAST or {name}=FIRST..")
        first, last = int(match[1]), int(match[2]) if match[2] else None
        if last is not None and last < first:
            raise ValueError(f"{entry!r}: last block is before the first")
        blocks[name] = (first, last)
    return blocks


def with_blocks(blocks: Mapping[str, tuple[int, int | None]]) -> tuple[Venue, ...]:
    """The registry with some venues' active blocks replaced (configuration, the devnet)."""
    return tuple(
        replace(v, first_block=blocks[v.name][0], last_block=blocks[v.name][1])
        if v.name in blocks
        else v
        for v in MAINNET_VENUES
    )


def format_venue_blocks(venues: Iterable[Venue]) -> str:
    """The inverse of parse_venue_blocks, for env files."""
    return ",".join(
        f"{v.name}={v.first_block}..{'' if v.last_block is None else v.last_block}" for v in venues
    )
