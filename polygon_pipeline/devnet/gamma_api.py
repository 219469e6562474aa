"""A local stand-in of Polymarket's Gamma `/markets/keyset`, knowing the generator's markets
(devnet/market_catalogue.py): looked up by `clob_token_ids` or `positionIds` (repeated
parameters), paged with `next_cursor` / `after_cursor`, behind a request budget (HTTP 429 +
Retry-After above it) and the faults the RPC emulator has: 5xx answers, slow answers, and
markets it does not know. Its counters are what claims about Gamma calls come from."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import asdict, dataclass

from aiohttp import web

from polygon_pipeline.devnet.emulator.budget import Budget
from polygon_pipeline.devnet.emulator.counters import WindowPeak
from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.devnet.generator import TradeGenerator
from polygon_pipeline.devnet.market_catalogue import DevnetMarket, market_of_token
from polygon_pipeline.devnet.runtime_settings import apply_changes

MAX_IDS = 100  # ids per request; more is refused (Gamma's URLs over ~8 KB get a 414)


@dataclass
class GammaConfig:
    max_rps: float | None = 20.0  # the API's own budget
    fault_5xx_rate: float = 0.0  # share of answers that are a 502 or 503
    latency_ms: float = 0.0  # added to every answer
    unknown_share: float = 0.0  # share of markets it does not know (reproducible by market)
    closed_needs_flag: bool = False  # closed markets only with closed=true (and only they)
    page_size: int = 50  # markets per page
    markets: int = 0  # markets known beyond the generator's (benchmarks: 10,000 tokens)
    seed: int = 1

    def update(self, changes: dict) -> None:
        apply_changes(self, changes, "gamma")


def _unknown(market: int, share: float) -> bool:
    digest = hashlib.sha256(f"gamma market {market}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


class GammaStandIn:
    def __init__(self, generator: TradeGenerator):
        self.generator = generator
        self.config = GammaConfig()
        self.rng = random.Random(self.config.seed)
        self.reset()

    def reset(self) -> None:
        """Zero the counters and empty the budget's window (a run starts on a quiet API)."""
        self.budget = Budget()
        self.requests = self.served = self.throttled = self.faults = self.ids_asked = 0
        self.peak_received, self.peak_served = WindowPeak(), WindowPeak()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/gamma/markets/keyset", self._keyset)
        app.router.add_get("/gamma/{key}/markets/keyset", self._keyset)  # a key in the base URL
        app.router.add_get("/_devnet/gamma", self._state)
        app.router.add_post("/_devnet/gamma", self._configure)

    def _known(self) -> int:
        return max(self.generator.config.markets, self.config.markets)

    def _matching(self, ids: list[int], closed: bool | None) -> list[int]:
        cfg = self.config
        found = {market_of_token(t, self._known()) for t in ids} - {None}
        keep = []
        for m in sorted(found):
            is_closed = DevnetMarket(m).state != "open"
            if _unknown(m, cfg.unknown_share):
                continue
            if cfg.closed_needs_flag and is_closed != bool(closed):
                continue
            if closed is not None and not cfg.closed_needs_flag and is_closed != closed:
                continue
            keep.append(m)
        return keep

    async def _keyset(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        self.requests += 1
        self.peak_received.add(now)
        cfg = self.config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        wait = self.budget.try_admit(Policy(max_rps=cfg.max_rps), time.monotonic(), [1])
        if wait is not None:
            self.throttled += 1
            return web.json_response(
                {"error": "Too Many Requests"},
                status=429,
                headers={"Retry-After": Budget.retry_after_header(wait)},
            )
        if self.rng.random() < cfg.fault_5xx_rate:
            self.faults += 1
            return web.Response(status=self.rng.choice((502, 503)), text="upstream error")
        query = request.query
        if "offset" in query:
            return web.json_response(
                {"error": "offset is not supported: use after_cursor"}, status=400
            )
        try:
            ids = [
                int(v) for key in ("clob_token_ids", "positionIds") for v in query.getall(key, [])
            ]
            after = int(query.get("after_cursor", 0))
            closed = None if "closed" not in query else query["closed"].lower() == "true"
        except ValueError:
            return web.json_response({"error": "ids and after_cursor are numbers"}, status=400)
        if len(ids) > MAX_IDS:
            return web.json_response({"error": f"at most {MAX_IDS} ids"}, status=414)
        self.ids_asked += len(ids)
        self.served += 1
        self.peak_served.add(time.monotonic())
        matching = self._matching(ids, closed)
        page = matching[after : after + cfg.page_size]
        more = after + cfg.page_size < len(matching)
        return web.json_response(
            {
                "markets": [DevnetMarket(m).gamma() for m in page],
                "next_cursor": str(after + cfg.page_size) if more else None,
            }
        )

    async def _state(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "config": asdict(self.config),
                "requests": self.requests,
                "served": self.served,
                "throttled": self.throttled,
                "faults": self.faults,
                "ids_asked": self.ids_asked,
                "peak_rps_received": self.peak_received.peak,
                "peak_rps_served": self.peak_served.peak,
            }
        )

    async def _configure(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            if body.pop("reset_counters", False):
                self.reset()
            self.config.update(body)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(asdict(self.config))
