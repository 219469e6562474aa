"""The Data API client: `/trades?user=` pages, through the same governed machinery as the RPC
client (its own shared budget, the same 429 back-off)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from polygon_pipeline.chain.addresses import normalize_address
from polygon_pipeline.governed_http import GovernedHttp
from polygon_pipeline.provider_errors import Permanent


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


def _parse_page(resp: Any) -> list[ApiTrade]:
    """A page of trades; errors quote the answer whole (GovernedHttp.quote scrubs, then cuts)."""
    body = resp.json()
    if not isinstance(body, list):
        raise ValueError(f"expected a list of trades, got {body}")
    return [parse_trade(item) for item in body]


class DataApiClient(GovernedHttp):
    def trades(self, user: str, limit: int, offset: int) -> list[ApiTrade]:
        """One page of a user's trades, newest first: maker fills too (`takerOnly=false`;
        the API's default, true, leaves out a leader's limit orders)."""
        params = {"user": user, "limit": limit, "offset": offset, "takerOnly": "false"}
        return self.governed("trades", lambda: self._get("/trades", params), _parse_page)

    def _get(self, path: str, params: dict) -> Any:
        resp = self.http(path.strip("/"), "GET", self._url.rstrip("/") + path, params=params)
        if resp.status_code >= 400:
            raise Permanent(f"{path}: HTTP {resp.status_code}: {self.quote(resp.text, 200)}")
        return resp
