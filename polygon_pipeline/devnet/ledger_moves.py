"""What the devnet does on the ledgers, and the positions truth it keeps of it.

Every trade settles its tokens on the ledger in the trade's own transaction (through the
devnet router: the exchange's fills, then the ledger's transfers); a seller short of tokens
splits first; leaders now and then merge a full set; the catalogue's resolved markets
resolve on chain one by one (ConditionResolution) and the leaders holding them redeem;
leaders convert neg-risk NO tokens into the other questions' YES tokens now and then.
Before the CLOB V2 cutover a wallet splits, merges and converts itself (binary) or through
the NegRiskAdapter; after it through the collateral adapters, so the wallet appears only in
its transfer to or from the adapter (DESIGN "Beyond the fill"). PositionManager ids are
minted and burnt directly (its modules are not simulated)."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Protocol

from eth_abi import encode as abi_encode
from eth_utils import keccak

from polygon_pipeline.chain.events import V1
from polygon_pipeline.chain.exchanges import VENUES, Venue
from polygon_pipeline.chain.transfers import (
    CONDITION_RESOLUTION,
    NEG_RISK_ADAPTER,
    NO_TOKEN_BURN_ADDRESS,
    POSITIONS_CONVERTED,
    ZERO_ADDRESS,
)
from polygon_pipeline.devnet.exchange_code import encode_fills
from polygon_pipeline.devnet.layouts import FillRecord
from polygon_pipeline.devnet.ledger_code import log_record, transfer_record
from polygon_pipeline.devnet.market_catalogue import (
    DevnetMarket,
    clob_token,
    neg_risk,
    neg_risk_group,
    v2_position,
)
from polygon_pipeline.devnet.position_book import BookEvent, PositionBook
from polygon_pipeline.gamma.position_ids import V2_VENUES
from polygon_pipeline.positions.cost import SCALE

Call = tuple[str, bytes]  # (contract, calldata), made in order through the devnet's router
CTF = VENUES["ctf_ledger"].address
ORACLE = "0x6a9d222616c90fca5754cd1333cfd9b7fb6a4f74"  # UMA CTF Adapter V2: resolves markets
# Who splits and merges for a wallet on ConditionalTokens, per (neg-risk, generation)
ADAPTERS = {
    (False, "v1"): None,
    (True, "v1"): NEG_RISK_ADAPTER,
    (False, "v2"): "0xada100874d00e3331d00f2007a9c336a65009718",  # CtfCollateralAdapter
    (True, "v2"): "0xada200001000ef00d07553cee7006808f895c6f1",  # NegRiskCtfCollateralAdapter
}


class Plan(Protocol):
    markets: int
    merge_share: float
    convert_share: float
    resolve_every: int
    layout_blocks: dict[str, int]

    def venues(self) -> tuple[Venue, ...]: ...


def winner(market: int) -> int:
    """The outcome a resolved devnet market pays (1 of 1): Yes or No, by market."""
    return (market // 4) % 2


def payouts(market: int) -> list[int]:
    return [1 if i == winner(market) else 0 for i in range(2)]


class LedgerMoves:
    def __init__(self, config: Plan, rng: random.Random, leaders: list[str]):
        self.config, self.rng, self.leaders = config, rng, leaders
        self.book = PositionBook()  # every wallet's positions (devnet/position_book.py)
        self.resolved: dict[int, int] = {}  # market -> the block it resolved in

    def rollback(self, fork_point: int) -> None:
        """Forget what happened after `fork_point` (a reorg)."""
        self.book = self.book.until(fork_point)
        self.resolved = {m: b for m, b in self.resolved.items() if b <= fork_point}

    def tradable_market(self, resolving: int | None = None) -> int:
        """A market not resolved on chain (resolved ones stop trading), nor `resolving`."""
        open_ = [m for m in range(self.config.markets) if m not in self.resolved]
        return self.rng.choice([m for m in open_ if m != resolving] or open_)

    def _generation(self, block: int) -> str:
        started = [(b, name) for name, b in self.config.layout_blocks.items() if b <= block]
        return max(started)[1] if started else V1.name

    @staticmethod
    def _ledger(venue: Venue) -> str:
        """ExchangeV3 trades PositionManager ids; the CLOB venues, ConditionalTokens ids."""
        return VENUES["pm_ledger" if venue.name in V2_VENUES else "ctf_ledger"].address

    @staticmethod
    def _outcomes(venue: Venue, market: int) -> tuple[int, int]:
        token = v2_position if venue.name in V2_VENUES else clob_token
        return token(market, 0), token(market, 1)

    def _mint_or_burn(
        self,
        block: int,
        ledger: str,
        market: int,
        wallet: str,
        tokens: tuple[int, ...],
        amounts: list[int],
        split: bool,
    ) -> bytes:
        """A split's mint to `wallet` or a burn from it (merge, redemption): direct (V1
        binary, the PositionManager) or through the adapter of the market's kind and
        generation, where the wallet appears only in its transfer to or from the adapter."""
        adapter = None if ledger != CTF else ADAPTERS[(neg_risk(market), self._generation(block))]
        ids = list(tokens)
        if adapter is None:
            ends = (ZERO_ADDRESS, wallet) if split else (wallet, ZERO_ADDRESS)
            return transfer_record(wallet, *ends, ids, amounts)
        hops = [(ZERO_ADDRESS, adapter), (adapter, wallet)]
        if not split:
            hops = [(wallet, adapter), (adapter, ZERO_ADDRESS)]
        return b"".join(transfer_record(adapter, a, b, ids, amounts) for a, b in hops)

    def trade_calls(
        self,
        block: int,
        venue: Venue,
        market: int,
        outcome: int,
        records: list[FillRecord],
        moves: list[tuple[str, str, int]],
    ) -> list[Call]:
        """A trade's router calls: any split a seller needs first (nobody sells tokens it
        does not have), the exchange's fills, then the ledger's token transfers."""
        ledger, tokens = self._ledger(venue), self._outcomes(venue, market)
        token = tokens[outcome]
        held: dict[str, int] = {}
        splits = b""
        for seller, buyer, amount in moves:
            for w in (seller, buyer):
                held.setdefault(w, self.book.balances.get((w, token), 0))
            if held[seller] < amount:
                need = amount - held[seller]
                self.book.apply(BookEvent(block, "split", seller, tokens, need))
                splits += self._mint_or_burn(
                    block, ledger, market, seller, tokens, [need, need], True
                )
                held[seller] += need
            held[seller] -= amount
            held[buyer] += amount
        for r in records:
            coll, qty = (r.maker_amount, r.taker_amount) if r.side == "BUY" else (
                r.taker_amount, r.maker_amount)  # fmt: skip
            self.book.apply(BookEvent(block, "fill", r.maker, (token,), qty, r.side, coll))
        moved = b""
        for seller, buyer, amount in moves:
            self.book.apply(BookEvent(block, "move", seller, (token,), amount, other=buyer))
            moved += transfer_record(venue.address, seller, buyer, [token], [amount])
        fills = bytes.fromhex(encode_fills(records, venue.layout)[2:])
        return [*([(ledger, splits)] if splits else []), (venue.address, fills), (ledger, moved)]

    def block_calls(self, block: int) -> list[list[Call]]:
        """The block's own transactions besides trades: a merge and a conversion now and
        then, and every `resolve_every` blocks a market's resolution and its holders'
        redemptions."""
        txs = []
        resolving = self._next_resolved() if block % self.config.resolve_every == 0 else None
        # Never a merge of the market resolving in this block: its burn would share the
        # resolution's block, and a burn at or after the resolution block is a redemption
        # (docs/positions.md), while the truth would count a merge at 0.50.
        if self.rng.random() < self.config.merge_share and (merge := self._merge(block, resolving)):
            txs.append(merge)
        chance = self.rng.random()
        if chance < self.config.convert_share and (convert := self._convert(block, resolving)):
            txs.append(convert)
        if resolving is not None:
            txs.extend(self._resolve(block, resolving))
        return txs

    def _merge(self, block: int, resolving: int | None = None) -> list[Call]:
        """A leader merges half of a full set it holds (both outcomes of one market not
        resolving in `block`)."""
        venues = [v for v in self.config.venues() if v.events == "fills" and v.first_block <= block]
        for _ in range(4):
            leader, venue = self.rng.choice(self.leaders), self.rng.choice(venues)
            market = self.tradable_market(resolving)
            if market == resolving:
                continue
            tokens = self._outcomes(venue, market)
            amount = min(self.book.balances.get((leader, t), 0) for t in tokens) // 2
            if amount > 0:
                self.book.apply(BookEvent(block, "merge", leader, tokens, amount))
                ledger = self._ledger(venue)
                burn = self._mint_or_burn(
                    block, ledger, market, leader, tokens, [amount, amount], False
                )
                return [(ledger, burn)]
        return []

    def _convert(self, block: int, resolving: int | None) -> list[Call]:
        """A leader converts half of the NO tokens it holds in some questions of a neg-risk
        event (never all: its other questions' YES tokens come back) whose markets are not
        resolved nor resolving. The NegRiskAdapter emits PositionsConverted either way."""
        events: dict[int, list[int]] = defaultdict(list)
        for m in filter(neg_risk, range(self.config.markets)):
            events[neg_risk_group(m)].append(m)
        live = [
            g for g, ms in sorted(events.items())
            if len(ms) > 1 and not any(m in self.resolved or m == resolving for m in ms)
        ]  # fmt: skip
        if not live:
            return []
        group = self.rng.choice(live)
        no = [clob_token(m, 1) for m in events[group]]
        for leader in self.rng.sample(self.leaders, len(self.leaders)):
            held = [t for t in no if self.book.balances.get((leader, t), 0) > 0][: len(no) - 1]
            amount = min((self.book.balances[(leader, t)] for t in held), default=0) // 2
            if amount > 0:
                questions = zip(events[group], no, strict=True)
                yes = [clob_token(m, 0) for m, t in questions if t not in held]
                self.book.apply(
                    BookEvent(block, "convert", leader, tuple(held), amount, yes=tuple(yes))
                )
                index_set = sum(1 << i for i, t in enumerate(no) if t in held)
                return self._conversion_calls(block, leader, group, index_set, held, yes, amount)
        return []

    def _conversion_calls(
        self,
        block: int,
        leader: str,
        group: int,
        index_set: int,
        no: list[int],
        yes: list[int],
        amount: int,
    ) -> list[Call]:
        """The conversion's transfers as mainnet shows them (neg-risk-ctf-adapter
        NegRiskAdapter.convertPositions; ctf-exchange-v2 NegRiskCtfCollateralAdapter): the NO
        tokens to the burn address, the YES tokens out of the NegRiskAdapter; after the
        cutover through the collateral adapter, which is then the event's stakeholder."""
        holder, adapter = ADAPTERS[(True, self._generation(block))], NEG_RISK_ADAPTER
        if holder == adapter:
            hops = [(adapter, leader, NO_TOKEN_BURN_ADDRESS, no), (adapter, adapter, leader, yes)]
        else:  # the collateral adapter pulls the NO tokens and hands the YES tokens on
            hops = [
                (holder, leader, holder, no),
                (adapter, holder, NO_TOKEN_BURN_ADDRESS, no),
                (adapter, adapter, holder, yes),
                (holder, holder, leader, yes),
            ]
        moved = b"".join(
            transfer_record(op, a, b, ids, [amount] * len(ids)) for op, a, b, ids in hops
        )
        stakeholder = leader if holder == NEG_RISK_ADAPTER else holder
        market_id = "0x" + keccak(text=f"devnet neg-risk event {group}").hex()
        event = log_record(
            [POSITIONS_CONVERTED, stakeholder, market_id, index_set],
            abi_encode(["uint256"], [amount]),
        )
        return [(CTF, moved), (NEG_RISK_ADAPTER, event)]

    def _next_resolved(self) -> int | None:
        """The next of the catalogue's resolved markets not resolved on chain yet."""
        waiting = [
            m for m in range(self.config.markets)
            if DevnetMarket(m).state == "resolved" and m not in self.resolved
        ]  # fmt: skip
        return waiting[0] if waiting else None

    def _resolve(self, block: int, market: int) -> list[list[Call]]:
        """`market` resolves (ConditionalTokens' ConditionResolution), then every leader
        holding its tokens redeems them all."""
        self.resolved[market] = block
        condition = DevnetMarket(market).condition_id
        question = "0x" + keccak(text=f"market {market} question").hex()
        data = abi_encode(["uint256", "uint256[]"], [2, payouts(market)])
        txs = [[(CTF, log_record([CONDITION_RESOLUTION, condition, ORACLE, question], data))]]
        tokens = (clob_token(market, 0), clob_token(market, 1))
        for leader in self.leaders:
            held = [(t, self.book.balances.get((leader, t), 0)) for t in tokens]
            held = [(t, n) for t, n in held if n > 0]
            if not held:
                continue
            for t, n in held:
                price = SCALE if t == tokens[winner(market)] else 0
                self.book.apply(BookEvent(block, "redeem", leader, (t,), n, collateral=price))
            ids, amounts = tuple(t for t, _ in held), [n for _, n in held]
            burn = self._mint_or_burn(block, CTF, market, leader, ids, amounts, False)
            txs.append([(CTF, burn)])
        return txs
