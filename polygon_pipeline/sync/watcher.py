"""The live watcher: leader fills from WebSocket subscriptions into the store the moment the
node announces them, with reconciliation filling any gap after a drop.

One per database (single flight), honest about its health (newHeads, not just logs), and it
never backfills per leader: its catch-up is `reconcile`, through the shared limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import websockets
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential
from web3 import AsyncWeb3, WebSocketProvider
from web3.exceptions import Web3Exception

from polygon_pipeline.chain.exchanges import EXCHANGES, venues_of
from polygon_pipeline.chain.fills import Fill, MalformedLog, decode_fill
from polygon_pipeline.chain.log_queries import leader_batches, leader_filter
from polygon_pipeline.chain.rpc_errors import RpcError
from polygon_pipeline.chain.ws_logs import head_header, raw_log
from polygon_pipeline.redact import scrub
from polygon_pipeline.store.cursors import get_cursor
from polygon_pipeline.store.fills_repo import retract_fills, upsert_fills
from polygon_pipeline.store.heartbeats import beat
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.live_comparison import forget_sightings, record_sighting
from polygon_pipeline.store.single_flight import SingleFlight
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline.sync.watcher_status import WATCHER_ROLE, WatcherStatus

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
HTTP_HEAD_EVERY_S = 15.0
WS_OPEN_TIMEOUT_S = 10.0


class SilentSocket(Exception):
    """The socket is open but no new heads arrive while the chain moves on."""


class LeaseLost(Exception):
    """Another watcher took over the lease: this one must stop writing."""


CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    websockets.exceptions.WebSocketException,
    Web3Exception,
    SilentSocket,
    RpcError,
)


class Watcher:
    def __init__(
        self,
        ctx: SyncContext,
        on_report: Callable[[WatcherStatus], None] | None = None,
    ):
        self.ctx = ctx
        self.settings = ctx.settings
        self.status = WatcherStatus(silence_s=ctx.settings.watch_silence_s)
        self.flight = SingleFlight(ctx.engine, WATCHER_ROLE)
        self.on_report = on_report
        self._secrets = [
            s.get_secret_value()
            for s in (ctx.settings.ws_url, ctx.settings.rpc_url)
            if s is not None
        ]
        self._exchanges = list(EXCHANGES)
        self._venues = venues_of(self._exchanges, ctx.settings.venues)  # every generation
        self._subscribed_before = False  # every later (re)subscription starts with a gap-fill

    # ---- lifecycle ------------------------------------------------------------------------
    async def wait_for_lease(self, stop: asyncio.Event, poll_s: float = 1.0) -> bool:
        said = False
        while not stop.is_set():
            if await asyncio.to_thread(self.flight.try_acquire):
                log.info("watcher lease acquired (%s)", self.flight.holder)
                return True
            if not said:
                holder = await asyncio.to_thread(self.flight.current_holder)
                log.warning("another watcher holds the lease (%s); waiting to take over", holder)
                said = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the lease, then stay subscribed until `stop` is set (or the lease is lost)."""
        if not await self.wait_for_lease(stop):
            return
        keeper = asyncio.create_task(self._keep_alive(stop))
        try:
            while not stop.is_set() and not keeper.done():
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(CONNECTION_ERRORS),
                    wait=wait_random_exponential(
                        multiplier=0.5, max=self.settings.watch_reconnect_max_s
                    ),
                    before_sleep=self._on_drop,
                ):
                    with attempt:
                        await self._session(stop, keeper)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await keeper
            self.status.connected = False
            await asyncio.to_thread(self._beat)
            await asyncio.to_thread(self.flight.release)
        if keeper.done() and not keeper.cancelled() and keeper.exception():
            raise keeper.exception()

    def _on_drop(self, state) -> None:
        self.status.connected = False
        self.status.reconnects += 1
        exc = state.outcome.exception() if state.outcome else None
        reason = scrub(f"{type(exc).__name__}: {exc}", self._secrets)[:300]
        log.warning(
            "websocket lost (%s); reconnect %d in %.1fs",
            reason,
            self.status.reconnects,
            state.upcoming_sleep,
        )

    # ---- one connection -------------------------------------------------------------------
    async def _session(self, stop: asyncio.Event, keeper: asyncio.Task) -> None:
        """One connection: subscribe, gap-fill what a previous connection may have missed,
        then consume until the socket drops, goes silent, or the leader list changes."""
        provider = WebSocketProvider(
            self.settings.require_ws_url(),
            websocket_kwargs={"open_timeout": WS_OPEN_TIMEOUT_S, "max_size": None},
        )
        async with AsyncWeb3(provider) as w3:
            heads = await w3.eth.subscribe("newHeads")
            leaders = await asyncio.to_thread(self._leaders)
            for batch in leader_batches(leaders, self.settings.leader_batch_size):
                for position in self.ctx.settings.follow_positions:
                    await w3.eth.subscribe("logs", leader_filter(self._venues, batch, position))
            self.status.connected = True
            # Subscribed first, then fill the gap, so nothing falls between the two: after a
            # drop from the cursor; at startup only if POLYGON_BACKFILL_ON_STARTUP.
            if self._subscribed_before:
                gap = asyncio.create_task(self._reconcile(None))
            elif self.settings.backfill_on_startup:
                gap = asyncio.create_task(self._reconcile_from_startup())
            else:
                gap = None
            self._subscribed_before = True
            self.status.last_head_at = time.time()  # the silence clock starts now
            self.status.leaders_watched = len(leaders)
            self.status.subscriptions = 1 + 2 * len(
                leader_batches(leaders, self.settings.leader_batch_size)
            )
            log.info(
                "subscribed: newHeads + %d log filters for %d leaders",
                self.status.subscriptions - 1,
                len(leaders),
            )
            tasks = {
                asyncio.create_task(self._consume(w3, heads)),
                asyncio.create_task(self._watchdog(leaders)),
                asyncio.create_task(stop.wait()),
            }
            try:
                await self._until_first_ends(tasks | {keeper}, gap)
            finally:
                for task in (*tasks, gap):
                    if task is not None:
                        task.cancel()
                await asyncio.gather(*tasks, *([gap] if gap else []), return_exceptions=True)

    @staticmethod
    async def _until_first_ends(tasks: set[asyncio.Task], gap: asyncio.Task | None) -> None:
        """Wait until one of `tasks` ends (re-raising its error); a gap-fill may end first."""
        watched = tasks | ({gap} if gap else set())
        while True:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if gap in done:
                watched.discard(gap)
                gap.result()  # a failed gap-fill ends the session: it is retried on reconnect
                done = done - {gap}
                if not done:
                    continue
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
            return

    async def _consume(self, w3: AsyncWeb3, heads_sub: str) -> None:
        async for message in w3.socket.process_subscriptions():
            received = datetime.now(tz=UTC)
            if message.get("subscription") == heads_sub:
                header = head_header(message["result"])
                self.status.last_head_number = header.number
                self.status.last_head_at = time.time()
                self.ctx.block_times.remember(header.hash, header.timestamp)
            else:
                await self._on_log(message["result"], received)
        raise websockets.exceptions.ConnectionClosedError(None, None)

    async def _on_log(self, formatted: dict, received: datetime) -> None:
        try:
            fill = decode_fill(raw_log(formatted))
        except (MalformedLog, KeyError, TypeError, ValueError) as exc:
            log.error(
                "skipped a malformed log from the provider (reconciliation will "
                "fetch it again): %s",
                exc,
            )
            return
        if fill.removed:
            with self.ctx.engine.begin() as conn:
                self.status.fills_retracted += retract_fills(conn, [fill.key])
                forget_sightings(conn, [fill.key])
            return
        if fill.block_timestamp is None:
            (fill,) = await asyncio.to_thread(self.ctx.block_times.fill_in, self.ctx.rpc, [fill])
        self._store(fill, received)

    def _store(self, fill: Fill, received: datetime) -> None:
        with self.ctx.engine.begin() as conn:
            self.status.fills_written += upsert_fills(conn, [fill], "ws", seen_at=received)
            record_sighting(conn, fill, received)
        self.status.last_fill_at = time.time()

    async def _watchdog(self, leaders: list[str]) -> None:
        """Returns when the leader list changed (re-subscribe); raises SilentSocket when no
        head arrived for `watch_silence_s` while the HTTP head moved on."""
        next_leader_check = time.monotonic() + self.settings.watch_leaders_poll_s
        while True:
            await asyncio.sleep(0.25)
            if time.monotonic() >= next_leader_check:
                next_leader_check = time.monotonic() + self.settings.watch_leaders_poll_s
                if await asyncio.to_thread(self._leaders) != leaders:
                    log.info("leader list changed: re-subscribing")
                    return
            age = self.status.head_age()
            if age is not None and age > self.settings.watch_silence_s:
                http_head = await asyncio.to_thread(self.ctx.rpc.block_number)
                self.status.http_head = http_head
                if http_head > (self.status.last_head_number or -1):
                    raise SilentSocket(
                        f"no new head for {age:.0f}s while the chain is at {http_head}"
                    )
                self.status.last_head_at = time.time()  # the chain itself is stalled

    # ---- catch-up -------------------------------------------------------------------------
    async def _reconcile_from_startup(self) -> None:
        await self._reconcile(await asyncio.to_thread(self._startup_from))

    def _startup_from(self) -> int:
        """The last POLYGON_BACKFILL_STARTUP_BLOCKS, or from the cursor when that is closer."""
        latest = self.ctx.rpc.block_number()
        start = max(0, latest - self.settings.backfill_startup_blocks + 1)
        with self.ctx.engine.connect() as conn:
            cursors = [get_cursor(conn, name) for name in self._exchanges]
        if all(c is not None for c in cursors):
            start = max(start, min(cursors) - self.settings.backfill_safety_overlap)
        return start

    async def _reconcile(self, from_block: int | None) -> None:
        """Gap-fill through `reconcile` (chunks capped at POLYGON_BACKFILL_MAX_RANGE, paced by
        the shared limiter), up to the latest block."""
        report = await asyncio.to_thread(
            reconcile, self.ctx, self._exchanges, from_block, None, None, "latest"
        )
        self.status.gap_fills += 1
        self.status.fills_written += report.fills_written
        log.info("gap-fill: %s", report.summary())

    # ---- liveness bookkeeping -------------------------------------------------------------
    def _leaders(self) -> list[str]:
        with self.ctx.engine.connect() as conn:
            return list_leaders(conn)

    def _beat(self) -> None:
        with self.ctx.engine.begin() as conn:
            beat(conn, WATCHER_ROLE, self.flight.holder, self.status.as_json())

    async def _keep_alive(self, stop: asyncio.Event) -> None:
        """Renew the lease, write the heartbeat, poll the HTTP head for the lag figure, and
        report to Dagster; raise LeaseLost if another watcher took over."""
        next_http = 0.0
        while not stop.is_set():
            if not await asyncio.to_thread(self.flight.renew):
                raise LeaseLost("the watcher lease was taken over by another process")
            if time.monotonic() >= next_http:
                next_http = time.monotonic() + HTTP_HEAD_EVERY_S
                with contextlib.suppress(RpcError):
                    self.status.http_head = await asyncio.to_thread(self.ctx.rpc.block_number)
            await asyncio.to_thread(self._beat)
            if self.on_report:
                await asyncio.to_thread(self.on_report, self.status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_S)
