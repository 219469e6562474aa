"""The devnet's control API (under /_devnet/ on the emulator's port): drive the generator,
read the ground truth, simulate a reorg. Tests, benchmarks and the CLI all use it."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from polygon_pipeline.devnet.emulator.server import ProviderEmulator
from polygon_pipeline.devnet.generator import GeneratorError, TradeGenerator


class DevnetControl:
    def __init__(self, generator: TradeGenerator, emulators: list[ProviderEmulator], info: dict):
        self.generator = generator
        self.emulators = emulators  # every provider in front of the chain
        self.info = info
        self._clock: asyncio.Task | None = None
        self._clock_stop = asyncio.Event()
        self.block_time: float | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_devnet/info", self._info)
        app.router.add_post("/_devnet/mine", self._mine)
        app.router.add_get("/_devnet/truth", self._truth)
        app.router.add_get("/_devnet/positions", self._positions)
        app.router.add_post("/_devnet/reorg", self._reorg)
        app.router.add_post("/_devnet/clock", self._set_clock)
        app.router.add_get("/_devnet/generator", self._get_generator)
        app.router.add_post("/_devnet/generator", self._set_generator)

    async def start_clock(self, block_time: float | None) -> None:
        """Mine a block every `block_time` seconds; None or 0 stops the clock (manual mining)."""
        if self._clock:
            self._clock_stop.set()
            await self._clock
            self._clock = None
        self.block_time = block_time or None
        if self.block_time:
            self._clock_stop = asyncio.Event()
            self._clock = asyncio.create_task(self.generator.run(self.block_time, self._clock_stop))

    async def stop_clock(self) -> None:
        await self.start_clock(None)

    async def _info(self, _request: web.Request) -> web.Response:
        head = int(await self.generator.rpc("eth_blockNumber", []), 16)
        return web.json_response(
            {
                **self.info,
                "head": head,
                "block_time": self.block_time,
                "leaders": self.generator.leaders,
                "wallets": self.generator.wallets,
                "truth_fills": len(self.generator.truth),
            }
        )

    async def _mine(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        blocks, fills = int(body.get("blocks", 1)), body.get("fills_per_block")
        emitted = []
        try:
            for _ in range(blocks):
                emitted.extend(
                    await self.generator.mine_block(None if fills is None else int(fills))
                )
        except GeneratorError as exc:
            return web.json_response({"error": str(exc)}, status=500)
        head = int(await self.generator.rpc("eth_blockNumber", []), 16)
        return web.json_response({"head": head, "fills": len(emitted)})

    async def _truth(self, request: web.Request) -> web.Response:
        rows = self.generator.truth
        lo, hi = request.query.get("from_block"), request.query.get("to_block")
        if lo is not None:
            rows = [r for r in rows if r["block_number"] >= int(lo)]
        if hi is not None:
            rows = [r for r in rows if r["block_number"] <= int(hi)]
        return web.json_response(rows)

    async def _positions(self, request: web.Request) -> web.Response:
        """Every leader's positions at the end of `to_block` (default: the head): balances
        and the expected cost basis and realized PnL (devnet/position_book.py)."""
        book = self.generator.ledger.book
        if "to_block" in request.query:
            book = book.until(int(request.query["to_block"]))
        return web.json_response(book.truth(self.generator.leaders))

    async def _reorg(self, request: web.Request) -> web.Response:
        depth = int((await _json_body(request)).get("depth", 1))
        removed = 0

        async def announce(fork_point: int) -> None:
            nonlocal removed
            for emulator in self.emulators:
                removed += await emulator.send_removed(fork_point)

        fork_point = await self.generator.reorg(depth, on_rollback=announce)
        return web.json_response({"fork_point": fork_point, "removed_logs_sent": removed})

    async def _set_clock(self, request: web.Request) -> web.Response:
        block_time = (await _json_body(request)).get("block_time")
        await self.start_clock(float(block_time) if block_time else None)
        return web.json_response({"block_time": self.block_time})

    async def _get_generator(self, _request: web.Request) -> web.Response:
        return web.json_response(vars(self.generator.config))

    async def _set_generator(self, request: web.Request) -> web.Response:
        try:
            self.generator.config.update(await _json_body(request))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(vars(self.generator.config))


async def _json_body(request: web.Request) -> dict:
    with contextlib.suppress(ValueError):
        body = await request.json()
        if isinstance(body, dict):
            return body
    return {}
