"""A local stand-in of Polymarket's CLOB `/midpoint?token_id=` (`{"mid": "0.45"}`): each of
the generator's tokens has a fixed midpoint while its market trades; a token it does not know,
or of a market resolved on chain, has no order book (HTTP 404, as the CLOB answers). Its
request count is the figure claims use."""

from __future__ import annotations

from aiohttp import web

from polygon_pipeline.devnet.generator import TradeGenerator
from polygon_pipeline.devnet.market_catalogue import market_of_token


def midpoint(token: int) -> str:
    """The devnet's fixed midpoint of a token: 0.02 to 0.98, two decimals, as text."""
    return f"0.{token % 97 + 2:02d}"


class ClobStandIn:
    def __init__(self, generator: TradeGenerator):
        self.generator = generator
        self.requests = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/clob/midpoint", self._midpoint)
        app.router.add_get("/_devnet/clob", self._state)

    async def _midpoint(self, request: web.Request) -> web.Response:
        self.requests += 1
        try:
            token = int(request.query["token_id"])
        except (KeyError, ValueError):
            return web.json_response({"error": "token_id is required"}, status=400)
        market = market_of_token(token, self.generator.config.markets)
        if market is None or market in self.generator.ledger.resolved:
            return web.json_response(
                {"error": "No orderbook exists for the requested token id"}, status=404
            )
        return web.json_response({"mid": midpoint(token)})

    async def _state(self, _request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests})
