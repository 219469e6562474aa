"""A trade as the Polymarket Data API's `/trades` lists it: the API mode's unit, shared by
the client that parses it and the store that keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from polygon_pipeline.chain.addresses import normalize_address


@dataclass(frozen=True, slots=True)
class ApiTrade:
    leader: str
    tx_hash: str
    token_id: int
    side: str
    size: Decimal
    price: Decimal
    timestamp: int  # unix seconds

    @property
    def identity(self) -> tuple:
        return (self.leader, self.tx_hash, self.token_id, self.side, self.size, self.price)


def parse_trade(raw: dict) -> ApiTrade:
    """One `/trades` item; raises ValueError (and kin) on anything malformed."""
    side = str(raw["side"]).upper()
    if side not in ("BUY", "SELL"):
        raise ValueError(f"unknown side {raw['side']!r}")
    tx_hash = str(raw["transactionHash"]).lower()
    if len(tx_hash) != 66 or not tx_hash.startswith("0x"):
        raise ValueError(f"bad transactionHash {tx_hash!r}")
    return ApiTrade(
        leader=normalize_address(str(raw["proxyWallet"])),
        tx_hash=tx_hash,
        token_id=int(str(raw["asset"])),
        side=side,
        size=Decimal(str(raw["size"])),
        price=Decimal(str(raw["price"])),
        timestamp=int(raw["timestamp"]),
    )
