"""The trade generator: realistic Polymarket matches on every venue, and their ground truth.

It follows the devnet's block plan (devnet/venue_plan.py, from the venue registry): each
block trades on the venues of the generation live then, with their layout's event, and a
layout without an operator fillOrder (V2) gets matchOrders only (devnet/layouts.py).

It sends transactions to anvil (directly: it is part of the outside world, not a client of
the provider), mines each block itself, and checks every receipt, so nothing it emits is
lost: explicit nonces per sender, generous fees, and a block is only recorded once every
transaction of it is mined with the expected logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field

import aiohttp
from eth_utils import keccak

from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID, Venue
from polygon_pipeline.chain.transfers import NEG_RISK_ADAPTER
from polygon_pipeline.devnet.exchange_code import assemble
from polygon_pipeline.devnet.layouts import FillRecord, devnet_layout, truth_terms
from polygon_pipeline.devnet.ledger_code import ROUTER, log_emitter, route, router
from polygon_pipeline.devnet.ledger_moves import Call, LedgerMoves
from polygon_pipeline.devnet.market_catalogue import clob_token, v2_position
from polygon_pipeline.devnet.runtime_settings import apply_changes
from polygon_pipeline.devnet.venue_plan import devnet_venues, plan_layouts, settling_venue
from polygon_pipeline.gamma.position_ids import V2_VENUES

_MAX_FEE = hex(200 * 10**9)
_TIP = hex(2 * 10**9)
_MINE_ATTEMPTS = 5


class GeneratorError(RuntimeError):
    """The generator could not get a transaction mined as intended: the truth would be wrong."""


@dataclass
class GeneratorConfig:
    wallets: int = 40  # trading wallets; the first `leaders` of them are the leaders
    leaders: int = 8
    fills_per_block: int = 6  # roughly: whole matches are emitted
    leader_share: float = 0.5  # chance that a match involves a leader
    merge_share: float = 0.3  # chance that a block holds a leader's merge
    convert_share: float = 0.2  # chance that a block holds a leader's neg-risk conversion
    resolve_every: int = 50  # a market resolves every N blocks (the catalogue's resolved ones)
    max_makers: int = 3  # maker orders per match (the taker fill comes on top)
    markets: int = 12
    seed: int = 7
    # each layout's first devnet block (its cutover): venue_plan.plan_layouts
    layout_blocks: dict[str, int] = field(default_factory=plan_layouts)

    def venues(self) -> tuple[Venue, ...]:
        """The registry as this devnet trades it (venue_plan.devnet_venues)."""
        return devnet_venues(self.layout_blocks)

    def update(self, changes: dict) -> None:
        if "layout_blocks" in changes:
            raise ValueError(
                "layout_blocks is fixed when the devnet starts (--layout-blocks): the venue "
                "blocks it implies are published in its env file"
            )
        apply_changes(self, changes, "generator")


def wallet(i: int) -> str:
    return "0x" + keccak(text=f"polygon-pipeline devnet wallet {i}")[12:].hex()


class TradeGenerator:
    """Emits blocks of fills on demand or on a clock, and remembers each one it emitted."""

    def __init__(self, anvil_http: str, config: GeneratorConfig | None = None):
        self.anvil_http = anvil_http
        self.config = config or GeneratorConfig()
        self.rng = random.Random(self.config.seed)
        self.truth: list[dict] = []
        self.lock = asyncio.Lock()  # one block at a time: clock, control API and reorgs
        self._http: aiohttp.ClientSession | None = None
        self._accounts: list[str] = []
        self._nonces: dict[str, int] = {}
        self._next_sender = 0
        self.ledger = LedgerMoves(self.config, self.rng, self.leaders)  # positions, truth

    @property
    def wallets(self) -> list[str]:
        return [wallet(i) for i in range(self.config.wallets)]

    @property
    def leaders(self) -> list[str]:
        return self.wallets[: self.config.leaders]

    async def rpc(self, method: str, params: list) -> object:
        answers = await self.rpc_batch([(method, params)])
        return answers[0]

    async def rpc_batch(self, calls: list[tuple[str, list]]) -> list:
        assert self._http is not None, "start() first"
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        async with self._http.post(self.anvil_http, json=payload) as resp:
            answers = sorted(await resp.json(content_type=None), key=lambda a: a["id"])
        failed = [a["error"] for a in answers if "error" in a]
        if failed:
            raise GeneratorError(f"anvil refused {len(failed)} call(s): {failed[0]}")
        return [a["result"] for a in answers]

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        await self._install_exchange_code()
        self._accounts = list(await self.rpc("eth_accounts", []))
        await self._load_nonces()

    async def _install_exchange_code(self) -> None:
        def code(v: Venue) -> bytes:
            return log_emitter() if v.events == "transfers" else assemble(v.layout)

        await self.rpc_batch(
            [("anvil_setCode", [v.address, "0x" + code(v).hex()]) for v in self.config.venues()]
            + [("anvil_setCode", [ROUTER, "0x" + router().hex()])]
            + [("anvil_setCode", [NEG_RISK_ADAPTER, "0x" + log_emitter().hex()])]  # its event
        )

    def _venue(self, block: int) -> Venue:
        """Where a trade in `block` settles (venue_plan.settling_venue)."""
        return settling_venue(self.config.venues(), block, self.rng.random())

    async def close(self) -> None:
        if self._http:
            await self._http.close()

    async def _load_nonces(self) -> None:
        counts = await self.rpc_batch(
            [("eth_getTransactionCount", [a, "pending"]) for a in self._accounts]
        )
        self._nonces = {a: int(n, 16) for a, n in zip(self._accounts, counts, strict=True)}

    # ---- what to trade --------------------------------------------------------------------
    def _participant(self, want_leader: bool, exclude: set[str]) -> str:
        pool = self.leaders if want_leader and self.leaders else self.wallets
        choices = [w for w in pool if w not in exclude] or [
            w for w in self.wallets if w not in exclude
        ]
        return self.rng.choice(choices)

    def _match(
        self, venue: Venue, operator: str
    ) -> tuple[int, int, list[FillRecord], list[tuple[str, str, int]]]:
        """One matched trade: a fill per maker order, then the taker order's own fill; or
        (where the layout has fillOrder) a single order filled directly by the operator."""
        cfg, rng = self.config, self.rng
        market, outcome = self.ledger.tradable_market(), rng.randrange(2)
        # ExchangeV3 trades Protocol V2 position ids; the CLOB venues, CTF token ids
        v2 = venue.name in V2_VENUES
        token = v2_position(market, outcome) if v2 else clob_token(market, outcome)
        cents = rng.randint(1, 99)
        leader_role = rng.choice(("taker", "maker")) if rng.random() < cfg.leader_share else None
        taker = self._participant(leader_role == "taker", set())
        taker_side = "BUY" if rng.random() < 0.5 else "SELL"
        maker_side = "SELL" if taker_side == "BUY" else "BUY"
        moves: list[tuple[str, str, int]] = []  # (seller, buyer, tokens): the token transfers
        makers: list[str] = []
        no_makers = devnet_layout(venue.layout).operator_fills and rng.random() < 0.25
        n_makers = 0 if no_makers else rng.randint(1, cfg.max_makers)
        for i in range(n_makers):
            makers.append(self._participant(leader_role == "maker" and i == 0, {taker, *makers}))
        records, total_tokens, total_coll = [], 0, 0
        for maker in makers:
            tokens = rng.randint(1, 5_000) * 10_000
            coll = tokens * cents // 100
            total_tokens, total_coll = total_tokens + tokens, total_coll + coll
            records.append(self._record(maker, taker, maker_side, token, coll, tokens, 0))
            moves.append((maker, taker, tokens) if maker_side == "SELL" else (taker, maker, tokens))
        if not makers:  # fillOrder: the operator takes the order directly
            total_tokens = rng.randint(1, 5_000) * 10_000
            total_coll = total_tokens * cents // 100
            counterparty = operator
            moves.append(
                (taker, operator, total_tokens)
                if taker_side == "SELL"
                else (operator, taker, total_tokens)
            )
        else:
            counterparty = venue.address
        records.append(
            self._record(
                taker, counterparty, taker_side, token, total_coll, total_tokens,
                total_coll // 100,
            )
        )  # fmt: skip
        return market, outcome, records, moves

    def _record(
        self, maker: str, taker: str, side: str, token: int, coll: int, tokens: int, fee: int
    ) -> FillRecord:
        """An order's fill in its own terms: a BUY gives collateral, a SELL gives tokens."""
        amounts = (coll, tokens) if side == "BUY" else (tokens, coll)
        builder = self.rng.randbytes(32) if self.rng.random() < 0.3 else bytes(32)
        return FillRecord(
            self.rng.randbytes(32), maker, taker, side, token, *amounts, fee,
            builder=builder, metadata=self.rng.randbytes(32),
        )  # fmt: skip

    # ---- mining ---------------------------------------------------------------------------
    async def mine_block(self, fills: int | None = None) -> list[dict]:
        """Emit about `fills` fills in one new block; return their ground-truth rows."""
        async with self.lock:
            return await self._mine_block(self.config.fills_per_block if fills is None else fills)

    async def _mine_block(self, target: int) -> list[dict]:
        # (sender, venue or None: a merge, its fill records, the router's calls)
        txs: list[tuple[str, Venue | None, list[FillRecord], list[Call]]] = []
        block = int(await self.rpc("eth_blockNumber", []), 16) + 1
        emitted = 0
        while emitted < target:
            sender = self._accounts[self._next_sender % len(self._accounts)]
            self._next_sender += 1
            venue = self._venue(block)
            market, outcome, records, moves = self._match(venue, sender)
            calls = self.ledger.trade_calls(block, venue, market, outcome, records, moves)
            txs.append((sender, venue, records, calls))
            emitted += len(records)
        for calls in self.ledger.block_calls(block):  # merges, resolutions, redemptions
            sender = self._accounts[self._next_sender % len(self._accounts)]
            self._next_sender += 1
            txs.append((sender, None, [], calls))
        sends = []
        for sender, _venue, _records, calls in txs:
            nonce = self._nonces[sender]
            self._nonces[sender] = nonce + 1
            size = sum(len(payload) for _, payload in calls) // 32
            sends.append(
                (
                    "eth_sendTransaction",
                    [
                        {
                            "from": sender,
                            "to": ROUTER,
                            "data": route(calls),
                            "gas": hex(80_000 + 4_000 * size),
                            "nonce": hex(nonce),
                            "maxFeePerGas": _MAX_FEE,
                            "maxPriorityFeePerGas": _TIP,
                        }
                    ],
                )
            )
        hashes = await self.rpc_batch(sends) if sends else []
        mined_at = time.time()  # the block is asked for now: latency is measured from here
        receipts = await self._mine_until_included(hashes)
        header = await self.rpc("eth_getBlockByNumber", ["latest", False])
        rows = []
        for (_sender, venue, records, _calls), receipt in zip(txs, receipts, strict=True):
            if venue is not None:
                rows.extend(self._truth_rows(venue, records, receipt, header, mined_at))
        self.truth.extend(rows)
        return rows

    async def _mine_until_included(self, hashes: list[str]) -> list[dict]:
        for _ in range(_MINE_ATTEMPTS):
            await self.rpc("evm_mine", [])
            if not hashes:
                return []
            receipts = await self.rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes])
            if all(receipts):
                return receipts
        missing = sum(1 for r in receipts if not r)
        raise GeneratorError(
            f"{missing} transaction(s) still unmined after {_MINE_ATTEMPTS} blocks"
        )

    @staticmethod
    def _truth_rows(
        venue: Venue, records: list[FillRecord], receipt: dict, block: dict, mined_at: float
    ) -> list[dict]:
        logs = [x for x in receipt["logs"] if x["address"].lower() == venue.address]
        if receipt["status"] != "0x1" or len(logs) != len(records):
            raise GeneratorError(
                f"tx {receipt['transactionHash']} (status {receipt['status']}, gas used "
                f"{int(receipt['gasUsed'], 16)}) emitted {len(logs)} logs, expected {len(records)}"
            )
        rows = []
        for record, log in zip(records, logs, strict=True):
            if log["topics"][1] != "0x" + record.order_hash.hex():
                raise GeneratorError(f"tx {receipt['transactionHash']}: logs out of order")
            rows.append(
                {
                    "chain_id": POLYGON_CHAIN_ID,
                    "exchange": venue.exchange,
                    "venue": venue.name,
                    "layout": venue.layout.name,
                    "block_number": int(receipt["blockNumber"], 16),
                    "block_hash": receipt["blockHash"],
                    "block_timestamp": int(block["timestamp"], 16),
                    "tx_hash": receipt["transactionHash"],
                    "log_index": int(log["logIndex"], 16),
                    **truth_terms(record, venue.layout),
                    "mined_at": mined_at,
                }
            )
        return rows

    async def run(self, block_time: float, stop: asyncio.Event) -> None:
        """Mine a block every `block_time` seconds (on a fixed schedule) until `stop` is set."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            await self.mine_block()
            next_at += block_time
            delay = next_at - loop.time()
            if delay < 0:  # fell behind: do not burst to catch up
                next_at, delay = loop.time(), 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def reorg(self, depth: int, on_rollback=None) -> int:
        """Replace the last `depth` blocks with new ones holding different trades. Returns the
        last block that survived; the truth forgets the fills of the replaced blocks.
        `on_rollback(fork_point)` runs between the rollback and the new blocks: where a node
        announces the removed logs."""
        async with self.lock:
            head = int(await self.rpc("eth_blockNumber", []), 16)
            depth = min(depth, head)
            fork_point = head - depth
            await self.rpc("anvil_rollback", [depth])
            # anvil rebuilds older states by replaying transactions, which loses code placed
            # with anvil_setCode: place it again.
            await self._install_exchange_code()
            self.truth = [row for row in self.truth if row["block_number"] <= fork_point]
            self.ledger.rollback(fork_point)
            await self._load_nonces()
            if on_rollback is not None:
                await on_rollback(fork_point)
            for _ in range(depth):
                await self._mine_block(self.config.fills_per_block)
            return fork_point
