"""A local stand-in of the Polymarket Data API's `/trades` and `/positions`, built from the
fills the trade
generator emitted: each leader order fill becomes a trade of its maker, visible only after a
configurable indexing delay, with a reproducible share never indexed at all (the omissions
a comparison must find). It has its own request budget (HTTP 429 + Retry-After above it).

Like the real `/trades`, it answers only a user's taker orders unless `takerOnly=false`
(a maker order's fill has a counterparty in the taker topic; a taker order's own fill has
the exchange there), refuses an `offset` beyond MAX_OFFSET, and takes an `end` (unix seconds,
inclusive) for paging deeper by time window.

`/positions?user=` answers the generator's positions truth at its head (devnet/position_book.py:
the same rules the pipeline follows), positions under `sizeThreshold` tokens left out;
`misreport` ("USER:TOKEN_ID") makes it report that position one token too large (what a
comparison must name)."""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import asdict, dataclass
from decimal import Decimal

from aiohttp import web

from polygon_pipeline.chain.exchanges import MAINNET_VENUES
from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.devnet.emulator.budget import Budget
from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.devnet.generator import TradeGenerator
from polygon_pipeline.devnet.runtime_settings import apply_changes
from polygon_pipeline.positions.cost import SCALE

MAX_PAGE = 500
MAX_OFFSET = 10_000
_EXCHANGE_ADDRESSES = {v.address for v in MAINNET_VENUES}


@dataclass
class DataApiConfig:
    delay_s: float = 5.0  # indexing delay after the block is mined
    omit_share: float = 0.0  # share of trades never indexed (chosen by identity, reproducible)
    max_rps: float | None = 20.0  # the API's own budget
    max_offset: int = MAX_OFFSET  # the largest `offset` answered (smaller in tests)
    echo_key: bool = False  # refuse every request with a 401 quoting its URL and key back
    retry_after_s: int | None = None  # a throttle's Retry-After instead of the budget's wait
    misreport: str = ""  # /positions: "USER:TOKEN_ID", whose size is reported 1 token larger

    def update(self, changes: dict) -> None:
        apply_changes(self, changes, "data API")


@functools.lru_cache(maxsize=1_000_000)
def _draw(tx_hash: str, log_index: int) -> float:
    """A trade's fixed draw in [0, 1): it is omitted when the draw is below `omit_share`."""
    digest = hashlib.sha256(f"{tx_hash}:{log_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _omitted(row: dict, share: float) -> bool:
    return _draw(row["tx_hash"], row["log_index"]) < share


def api_trade(row: dict) -> dict | None:
    """A ground-truth fill as the Data API shows it: a trade of the order's maker."""
    view = trade_of(row)
    if view is None:
        return None
    return {
        "proxyWallet": row["maker"],
        "side": view.side,
        "asset": str(view.token_id),
        "conditionId": "",
        "size": float(view.size),
        "price": float(view.price),
        "timestamp": row["block_timestamp"],
        "transactionHash": row["tx_hash"],
    }


class DataApiStandIn:
    def __init__(self, generator: TradeGenerator):
        self.generator = generator
        self.config = DataApiConfig()
        self.budget = Budget()
        self.requests = 0
        self.throttled = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/data-api/trades", self._trades)
        app.router.add_get("/data-api/{key}/trades", self._trades)  # a key in the base URL
        app.router.add_get("/data-api/positions", self._positions)
        app.router.add_get("/data-api/{key}/positions", self._positions)
        app.router.add_get("/_devnet/data-api", self._state)
        app.router.add_post("/_devnet/data-api", self._configure)

    def _visible(self, user: str, now: float, taker_only: bool) -> list[dict]:
        cfg = self.config
        return [
            r
            for r in self.generator.truth
            if r["maker"] == user
            and (not taker_only or r["taker"] in _EXCHANGE_ADDRESSES)
            and r["mined_at"] + cfg.delay_s <= now
            and not _omitted(r, cfg.omit_share)
        ]

    def _refusal(self, request: web.Request) -> web.Response | None:
        """A request counted, then refused for a bad key (echo_key) or over budget; None: go on."""
        self.requests += 1
        if self.config.echo_key:
            key = request.match_info.get("key", "")
            return web.json_response(
                {"error": f"invalid API key '{key}' for {request.url}"}, status=401
            )
        wait = self.budget.try_admit(Policy(max_rps=self.config.max_rps), time.monotonic(), [1])
        if wait is not None:
            self.throttled += 1
            return web.json_response(
                {"error": "Too Many Requests"},
                status=429,
                headers={
                    "Retry-After": Budget.retry_after_header(self.config.retry_after_s or wait)
                },
            )
        return None

    async def _positions(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        try:
            user = request.query["user"].lower()
            threshold = Decimal(request.query.get("sizeThreshold", "1"))
            limit = min(int(request.query.get("limit", 100)), MAX_PAGE)
            offset = int(request.query.get("offset", 0))
        except (KeyError, ValueError, ArithmeticError):
            return web.json_response(
                {"error": "user is required; sizeThreshold, limit and offset are numbers"},
                status=400,
            )
        held = self.generator.ledger.book.truth([user])[user]
        rows = []
        for token, p in sorted(held.items()):
            wrong = f"{user}:{token}" == self.config.misreport.lower()
            size = Decimal(p["size"]) / SCALE + (1 if wrong else 0)
            if size > 0 and size >= threshold:
                rows.append({
                    "proxyWallet": user, "asset": token, "size": float(size),
                    "avgPrice": p["avg_price"] / SCALE, "realizedPnl": p["realized_pnl"] / SCALE,
                })  # fmt: skip
        return web.json_response(rows[offset : offset + limit])

    async def _trades(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        try:
            user = request.query["user"].lower()
            limit = min(int(request.query.get("limit", 100)), MAX_PAGE)
            offset = int(request.query.get("offset", 0))
            taker_only = request.query.get("takerOnly", "true").lower() != "false"
            end = int(request.query["end"]) if "end" in request.query else None
        except (KeyError, ValueError):
            return web.json_response(
                {"error": "user is required; limit, offset and end are numbers"}, status=400
            )
        if offset > self.config.max_offset:
            return web.json_response(
                {
                    "error": f"offset must be at most {self.config.max_offset}: page deeper "
                    "history inside start/end windows"
                },
                status=400,
            )
        rows = [
            r
            for r in self._visible(user, time.time(), taker_only)
            if end is None or r["block_timestamp"] <= end
        ]
        rows.sort(key=lambda r: (r["block_number"], r["log_index"]), reverse=True)
        trades = [t for t in (api_trade(r) for r in rows) if t is not None]
        return web.json_response(trades[offset : offset + limit])

    async def _state(self, _request: web.Request) -> web.Response:
        share = self.config.omit_share
        omitted = [
            {
                "tx_hash": r["tx_hash"],
                "log_index": r["log_index"],
                "maker": r["maker"],
                "block_number": r["block_number"],
            }
            for r in self.generator.truth
            if _omitted(r, share)
        ]
        return web.json_response(
            {
                "config": asdict(self.config),
                "requests": self.requests,
                "throttled": self.throttled,
                "omitted": omitted,
            }
        )

    async def _configure(self, request: web.Request) -> web.Response:
        try:
            self.config.update(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(asdict(self.config))
