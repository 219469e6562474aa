"""A position as the Polymarket Data API's `/positions?user=` lists it (DESIGN "Beyond the
fill": `size`, `avgPrice`, `realizedPnl`, `curPrice`; positions under `sizeThreshold`,
default 1 token, are left out): what the chain's positions are checked against."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from polygon_pipeline.chain.addresses import normalize_address

SIZE_THRESHOLD = Decimal(1)  # the API's default sizeThreshold, in tokens


@dataclass(frozen=True, slots=True)
class ApiPosition:
    leader: str
    token_id: int
    size: Decimal  # tokens
    avg_price: Decimal  # USD per token


def parse_position(raw: dict) -> ApiPosition:
    """One `/positions` item; raises ValueError (and kin) on anything malformed."""
    return ApiPosition(
        leader=normalize_address(str(raw["proxyWallet"])),
        token_id=int(str(raw["asset"])),
        size=Decimal(str(raw["size"])),
        avg_price=Decimal(str(raw["avgPrice"])),
    )
