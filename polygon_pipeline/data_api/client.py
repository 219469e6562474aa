"""The Data API client: `/trades?user=` pages, through the same governed machinery as the RPC
client (its own shared budget, the same 429 back-off)."""

from __future__ import annotations

from typing import Any

from polygon_pipeline.data_api.positions import SIZE_THRESHOLD, ApiPosition, parse_position
from polygon_pipeline.data_api.trades import ApiTrade, parse_trade
from polygon_pipeline.governed_http import GovernedHttp
from polygon_pipeline.provider_errors import Permanent


def _parse_page(resp: Any) -> list[ApiTrade]:
    """A page of trades; errors quote the answer whole (GovernedHttp.quote scrubs, then cuts)."""
    body = resp.json()
    if not isinstance(body, list):
        raise ValueError(f"expected a list of trades, got {body}")
    return [parse_trade(item) for item in body]


def _parse_positions(resp: Any) -> list[ApiPosition]:
    body = resp.json()
    if not isinstance(body, list):
        raise ValueError(f"expected a list of positions, got {body}")
    return [parse_position(item) for item in body]


class DataApiClient(GovernedHttp):
    def trades(self, user: str, limit: int, offset: int, end: int | None = None) -> list[ApiTrade]:
        """One page of a user's trades, newest first, optionally up to `end` (unix seconds):
        maker fills too (`takerOnly=false`; the API's default, true, leaves out a leader's
        limit orders)."""
        params = {"user": user, "limit": limit, "offset": offset, "takerOnly": "false"}
        if end is not None:
            params["end"] = end
        return self.governed("trades", lambda: self._get("/trades", params), _parse_page)

    def positions(self, user: str, limit: int, offset: int) -> list[ApiPosition]:
        """One page of a user's positions of at least SIZE_THRESHOLD tokens."""
        params = {"user": user, "limit": limit, "offset": offset, "sizeThreshold": SIZE_THRESHOLD}
        return self.governed("positions", lambda: self._get("/positions", params), _parse_positions)

    def _get(self, path: str, params: dict) -> Any:
        resp = self.http(path.strip("/"), "GET", self._url.rstrip("/") + path, params=params)
        if resp.status_code >= 400:
            raise Permanent(f"{path}: HTTP {resp.status_code}: {self.quote(resp.text, 200)}")
        return resp
