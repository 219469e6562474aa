"""The live watcher: leader fills from WebSocket subscriptions into the store the moment the
node announces them, with reconciliation from the cursor filling any gap after a drop, a
restart or a takeover.

One per database (single flight, every live write fenced), honest about its health
(newHeads, not just logs), stoppable wherever it is (connecting, backing off, gap-filling),
and it never backfills per leader: its catch-up is `reconcile`, through the shared limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime

import websockets
from web3 import AsyncWeb3, WebSocketProvider
from web3.exceptions import Web3Exception

from polygon_pipeline.backoff import full_jitter
from polygon_pipeline.chain.answer_checks import mismatch
from polygon_pipeline.chain.exchanges import EXCHANGES, venues_of
from polygon_pipeline.chain.fills import Fill, MalformedLog
from polygon_pipeline.chain.leader_logs import decode_leader_log
from polygon_pipeline.chain.log_queries import leader_batches, leader_filter
from polygon_pipeline.chain.transfers import PositionTransfer
from polygon_pipeline.chain.ws_logs import head_header, raw_log
from polygon_pipeline.provider_errors import ProviderError
from polygon_pipeline.redact import provider_labels, scrub
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.fills_repo import retract_fills, stored_block_hash, upsert_fills
from polygon_pipeline.store.heartbeats_repo import beat
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.live_sightings_repo import forget_sightings, record_sighting
from polygon_pipeline.store.single_flight import LeaseLost, SingleFlight
from polygon_pipeline.store.transfers_repo import upsert_transfers
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.reconcile import ReconcileReport, reconcile
from polygon_pipeline.sync.watcher_status import WATCHER_ROLE, WatcherStatus

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
HTTP_HEAD_EVERY_S = 15.0
WS_OPEN_TIMEOUT_S = 10.0
HEADS_KEPT = 1024  # newHeads remembered to vouch for live logs' block hashes
BACKOFF_FIRST_S = 0.5  # the first reconnect waits up to this; each failed attempt doubles it


class SilentSocket(Exception):
    """The socket is open but no new heads arrive while the chain moves on."""


class GapFillStopped(Exception):
    """The session that started a gap-fill ended (a drop, shutdown, the lease lost): the
    gap-fill stops after its chunk in progress; the next one starts from the cursor."""


CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    websockets.exceptions.WebSocketException,
    Web3Exception,
    SilentSocket,
    ProviderError,
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
        self._secrets = ctx.settings.secret_values()
        # The WebSocket providers, in the order given; a dead socket moves to the next.
        self._ws_urls = ctx.settings.ws_url_list
        self._ws_labels = provider_labels(self._ws_urls)
        self._ws_at = 0
        self.status.ws_provider = self._ws_labels[0] if self._ws_labels else None
        self._exchanges = list(EXCHANGES)
        self._venues = venues_of(self._exchanges, ctx.settings.venues)  # every generation
        self._heads: dict[int, str] = {}  # block number -> hash, from newHeads (recent ones)

    # ---- lifecycle ------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Hold the lease and stay subscribed until `stop` is set. A watcher that loses the
        lease stops writing at once and stands by, ready to take over again."""
        first, pause = True, 0.0
        while (waited := await self.wait_for_lease(stop, pause)) is not None:
            # A takeover (or the lease won back) leaves a gap since the last holder's cursor;
            # a first start catches up only when POLYGON_BACKFILL_ON_STARTUP asks for it.
            catch_up = waited or not first or self.settings.backfill_on_startup
            first = False
            try:
                await self._hold(stop, catch_up)
                return
            except LeaseLost as exc:
                log.warning("%s: stopped writing; standing by to take over again", exc)
                pause = HEARTBEAT_S  # a watcher already waiting takes over first

    async def wait_for_lease(
        self, stop: asyncio.Event, pause: float = 0.0, poll_s: float = 1.0
    ) -> bool | None:
        """Take the lease (after `pause`), waiting while another watcher holds it. None if
        `stop` came first, else whether it had to wait (a takeover)."""
        said = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        while not stop.is_set():
            if await asyncio.to_thread(self.flight.try_acquire):
                log.info("watcher lease acquired (%s)", self.flight.holder)
                return said
            if not said:
                holder = await asyncio.to_thread(self.flight.current_holder)
                log.warning("another watcher holds the lease (%s); waiting to take over", holder)
                said = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
        return None

    async def _hold(self, stop: asyncio.Event, catch_up: bool) -> None:
        """Stay subscribed while a keeper task renews the lease; raise LeaseLost when the
        keeper or a fenced write finds it gone."""
        keeper = asyncio.create_task(self._keep_alive(stop))
        lost = False
        try:
            await self._stay_subscribed(stop, keeper, catch_up)
            if keeper.done():
                keeper.result()  # LeaseLost, or whatever else ended the keeper
        except LeaseLost:
            lost = True
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await keeper
            self.status.connected = False
            if not lost:  # once lost, the heartbeat row belongs to the new holder
                await asyncio.to_thread(self._beat)
            await asyncio.to_thread(self.flight.release)

    async def _stay_subscribed(
        self, stop: asyncio.Event, keeper: asyncio.Task, catch_up: bool
    ) -> None:
        """One session after another, with back-off after a drop, until `stop` is set or
        the keeper ends; both are honoured at any point (connecting, consuming, gap-filling,
        backing off)."""
        while not stop.is_set() and not keeper.done():
            try:
                await self._until_stopped(self._session(catch_up), stop, keeper)
            except CONNECTION_ERRORS as exc:
                await self._until_stopped(asyncio.sleep(self._dropped(exc)), stop, keeper)
            catch_up = True  # every later subscription gap-fills from the cursor

    @staticmethod
    async def _until_stopped(work: Coroutine, stop: asyncio.Event, keeper: asyncio.Task) -> None:
        """Run `work` to its end (re-raising its error), or cancel it the moment `stop` is
        set or the keeper ends."""
        task = asyncio.create_task(work)
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({task, stopped, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stopped):
                pending.cancel()
            await asyncio.gather(task, stopped, return_exceptions=True)
        if not task.cancelled():
            task.result()

    def _dropped(self, exc: BaseException) -> float:
        """Count a failed or dropped connection; return the back-off before the next attempt:
        full jitter over BACKOFF_FIRST_S doubled per consecutive failure, capped at
        POLYGON_WATCH_RECONNECT_MAX_S. The watchdog starts the count over once a session has
        been healthy for that cap."""
        self.status.connected = False
        self.status.reconnects += 1
        self.status.reconnect_attempt += 1
        attempt = self.status.reconnect_attempt
        delay = full_jitter(BACKOFF_FIRST_S, self.settings.watch_reconnect_max_s, attempt)
        reason = scrub(f"{type(exc).__name__}: {exc}", self._secrets)[:300]
        if len(self._ws_urls) > 1:
            # Another provider at once, while some provider has not failed in this streak;
            # once every one has, the back-off paces the round.
            lost = self._ws_labels[self._ws_at]
            self._ws_at = (self._ws_at + 1) % len(self._ws_urls)
            self.status.ws_provider = self._ws_labels[self._ws_at]
            self.status.provider_switches += 1
            if attempt < len(self._ws_urls):
                delay = 0.0
            log.warning(
                "websocket to %s lost (%s); switching to %s in %.1fs",
                lost,
                reason,
                self.status.ws_provider,
                delay,
            )
            return delay
        log.warning("websocket lost (%s); reconnect attempt %d in %.1fs", reason, attempt, delay)
        return delay

    # ---- one connection -------------------------------------------------------------------
    async def _session(self, catch_up: bool) -> None:
        """One connection: subscribe, gap-fill what a previous connection may have missed
        (when `catch_up`), then consume until the socket drops, goes silent, or the leader
        list changes."""
        if not self._ws_urls:
            self.settings.require_ws_url()  # names the missing variable
        provider = WebSocketProvider(
            self._ws_urls[self._ws_at],
            websocket_kwargs={"open_timeout": WS_OPEN_TIMEOUT_S, "max_size": None},
            max_connection_retries=1,  # one back-off policy (ours), not web3's 20 s of retries
        )
        async with AsyncWeb3(provider) as w3:
            heads = await w3.eth.subscribe("newHeads")
            leaders = await asyncio.to_thread(self._leaders)
            filters: dict[str, dict] = {}  # subscription id -> its filter, to check logs by
            for batch in leader_batches(leaders, self.settings.leader_batch_size):
                for position in self.ctx.settings.follow_positions:
                    wanted = leader_filter(self._venues, batch, position)
                    filters[str(await w3.eth.subscribe("logs", wanted))] = wanted
            self.status.connected = True
            # Subscribed first, then fill the gap, so nothing falls between the two.
            abort = threading.Event()
            gap = asyncio.create_task(self._gap_fill(abort)) if catch_up and leaders else None
            subscribed_at = time.monotonic()
            self.status.last_head_at = time.time()  # the silence clock starts now
            self.status.session_heads = 0  # healthy only once this connection brings a head
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
                asyncio.create_task(self._consume(w3, heads, filters)),
                asyncio.create_task(self._watchdog(leaders, subscribed_at)),
            }
            try:
                await self._until_first_ends(tasks, gap)
            finally:
                abort.set()  # a gap-fill still running stops after its chunk in progress
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if gap is not None:
                    await self._join(gap)

    @staticmethod
    async def _join(gap: asyncio.Task) -> None:
        """Wait for a gap-fill told to stop, even through a cancellation (shutdown arriving
        while a dropped session tears down): its thread cannot be interrupted, only told, and
        the session must not end while it still writes. Its error was the session's."""
        try:
            await asyncio.wait({gap})
        except asyncio.CancelledError:
            await asyncio.wait({gap})
            raise
        finally:
            if gap.done():
                gap.exception()  # retrieved here, so never reported as lost

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

    async def _consume(self, w3: AsyncWeb3, heads_sub: str, filters: dict[str, dict]) -> None:
        async for message in w3.socket.process_subscriptions():
            received = datetime.now(tz=UTC)
            if message.get("subscription") == heads_sub:
                header = head_header(message["result"])
                self.status.last_head_number = header.number
                self.status.last_head_at = time.time()
                self.status.session_heads += 1
                self.ctx.block_times.remember(header.hash, header.timestamp)
                self._heads[header.number] = header.hash
                while len(self._heads) > HEADS_KEPT:
                    del self._heads[next(iter(self._heads))]
            else:
                wanted = filters.get(str(message.get("subscription")))
                await self._on_log(message["result"], received, wanted)
        raise websockets.exceptions.ConnectionClosedError(None, None)

    async def _on_log(self, formatted: dict, received: datetime, wanted: dict | None) -> None:
        """Store a live fill, or retract one on a confirmed removal. A log its subscription
        excludes, or in a block the node does not know, is the provider's error: not stored,
        not notified (reconciliation reads the range again from the cursor)."""
        try:
            raw = raw_log(formatted)
            why = "an unknown subscription" if wanted is None else mismatch(wanted, raw, True)
            fill = decode_leader_log(raw)
        except (MalformedLog, KeyError, TypeError, ValueError) as exc:
            log.error(
                "skipped a malformed log from the provider (reconciliation will "
                "fetch it again): %s",
                exc,
            )
            return
        if why is None and not fill.removed and not await self._known_block(fill):
            why = f"block hash {fill.block_hash} is not block {fill.block_number}'s"
        if why is not None:
            self.status.foreign_logs += 1
            log.error("ignored a log its subscription excludes (%s; tx %s)", why, fill.tx_hash)
            return
        if isinstance(fill, PositionTransfer):  # a removed one: reconciliation retracts it
            if not fill.removed:
                await asyncio.to_thread(self._store_transfer, fill)
            return
        if fill.removed:
            await asyncio.to_thread(self._retract, fill)
            return
        if fill.block_timestamp is None:
            (fill,) = await asyncio.to_thread(self.ctx.block_times.fill_in, self.ctx.rpc, [fill])
        self._store(fill, received)

    async def _known_block(self, fill: Fill) -> bool:
        """Whether the fill's block hash is the node's block at its number: free when its
        newHeads notification came first (the usual order), else one header lookup per
        block (remembered for the block's other logs)."""
        if self._heads.get(fill.block_number) == fill.block_hash:
            return True
        header = await asyncio.to_thread(self.ctx.rpc.get_block_by_hash, fill.block_hash)
        if header is None or header.number != fill.block_number:
            return False
        self._heads[header.number] = header.hash
        return True

    def _retract(self, fill: Fill) -> None:
        """Retract a fill on a `removed: true` notice only if the notice is about the stored
        row (same block hash) and the chain agrees (its block is no longer canonical): a
        bogus or stale removal would otherwise delete a canonical fill that no later
        reconciliation brings back (the cursor is past it)."""
        with self.ctx.engine.connect() as conn:
            stored = stored_block_hash(conn, fill.key)
        if stored is None:
            return
        if stored != fill.block_hash:
            self._refuse_removal(fill, f"the stored fill is in block hash {stored}")
            return
        header = self.ctx.rpc.get_block(fill.block_number)
        if header is not None and header.hash == fill.block_hash:
            self._refuse_removal(fill, "its block is still canonical")
            return
        with self.ctx.engine.begin() as conn:
            retracted = retract_fills(conn, [(fill.key, fill.block_hash)])
            forget_sightings(conn, [fill.key])
            self.flight.fence(conn)
        self.status.fills_retracted += retracted

    def _refuse_removal(self, fill: Fill, why: str) -> None:
        self.status.removals_refused += 1
        log.warning(
            "kept fill %s:%d despite a removed log in block hash %s: %s",
            fill.tx_hash,
            fill.log_index,
            fill.block_hash,
            why,
        )

    def _store(self, fill: Fill, received: datetime) -> None:
        with self.ctx.engine.begin() as conn:
            written = upsert_fills(conn, [fill], "ws", seen_at=received)
            record_sighting(conn, fill, received)
            self.flight.fence(conn)  # no write commits once another watcher holds the lease
        self.status.fills_written += written
        self.status.last_fill_at = time.time()

    def _store_transfer(self, transfer: PositionTransfer) -> None:
        if transfer.block_timestamp is None:
            (transfer,) = self.ctx.block_times.fill_in(self.ctx.rpc, [transfer])
        with self.ctx.engine.begin() as conn:
            upsert_transfers(conn, [transfer], "ws")
            self.flight.fence(conn)

    async def _watchdog(self, leaders: list[str], subscribed_at: float) -> None:
        """Returns when the leader list changed (re-subscribe); raises SilentSocket when no
        head arrived for `watch_silence_s` while the HTTP head moved on. A session healthy
        for POLYGON_WATCH_RECONNECT_MAX_S (longer than any back-off wait) starts the
        reconnect back-off over: the next drop waits the first step again."""
        next_leader_check = time.monotonic() + self.settings.watch_leaders_poll_s
        healthy_after = subscribed_at + self.settings.watch_reconnect_max_s
        while True:
            await asyncio.sleep(0.25)
            if (
                self.status.reconnect_attempt
                and time.monotonic() >= healthy_after
                and self.status.healthy()
            ):
                log.info("connection healthy again: the reconnect back-off starts over")
                self.status.reconnect_attempt = 0
            if time.monotonic() >= next_leader_check:
                next_leader_check = time.monotonic() + self.settings.watch_leaders_poll_s
                if await asyncio.to_thread(self._leaders) != leaders:
                    log.info("leader list changed: re-subscribing")
                    return
            age = self.status.head_age()
            if age is not None and age > self.settings.watch_silence_s:
                # With no head heard yet, compare with the HTTP head last polled: a chain
                # stalled since startup is not a silent socket.
                known = self.status.last_head_number
                known = self.status.http_head if known is None else known
                http_head = await asyncio.to_thread(self.ctx.rpc.block_number)
                self.status.http_head = http_head
                if known is not None and http_head > known:
                    raise SilentSocket(
                        f"no new head for {age:.0f}s while the chain is at {http_head}"
                    )
                self.status.last_head_at = time.time()  # the chain itself is stalled

    # ---- catch-up -------------------------------------------------------------------------
    async def _gap_fill(self, abort: threading.Event) -> None:
        """Reconcile from the cursor (less the safety overlap; no cursor yet: the last
        POLYGON_BACKFILL_STARTUP_BLOCKS) to the latest block, however far back the cursor
        is: chunks of at most POLYGON_BACKFILL_MAX_RANGE, paced by the shared limiter. Once
        `abort` is set it stops after the chunk in progress, as soon as every exchange has a
        cursor: a fresh store's first catch-up reconciles its lowest chunk first, so that the
        next catch-up knows where to resume instead of falling back to a window."""

        def checkpoint(_report: ReconcileReport) -> None:
            if abort.is_set() and None not in self._cursors():
                raise GapFillStopped

        try:
            report = await asyncio.to_thread(
                reconcile, self.ctx, self._exchanges, None, None, checkpoint, "latest"
            )
        except GapFillStopped:
            log.info("gap-fill stopped with its session; the next one resumes from the cursor")
            return
        self.status.gap_fills += 1
        self.status.fills_written += report.fills_written
        log.info("gap-fill: %s", report.summary())

    # ---- liveness bookkeeping -------------------------------------------------------------
    def _cursors(self) -> list[int | None]:
        with self.ctx.engine.connect() as conn:
            return [get_cursor(conn, name) for name in self._exchanges]

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
                raise LeaseLost(
                    "the watcher lease was lost (taken over, or its database connection ended)"
                )
            if time.monotonic() >= next_http:
                next_http = time.monotonic() + HTTP_HEAD_EVERY_S
                with contextlib.suppress(ProviderError):
                    self.status.http_head = await asyncio.to_thread(self.ctx.rpc.block_number)
                self.status.rpc_providers = self.ctx.rpc.health()
            await asyncio.to_thread(self._beat)
            if self.on_report:
                await asyncio.to_thread(self.on_report, self.status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_S)
