"""The devnet's ground truth of positions: every wallet's balance of every position id and
its expected cost basis and realized PnL under the documented rules (positions/cost.py),
kept from what the generator *asked* for (an order, a split, a merge), never from the logs,
so the pipeline's reading of the chain is checked against it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from polygon_pipeline.positions.cost import HALF, CostBasis, fill_price, neg_risk_yes_price


@dataclass(frozen=True)
class BookEvent:
    """One thing the generator did, in chain order: kind is "fill" (an order's own fill:
    `wallet` gave or got `collateral` for `amount` of `token`), "move" (tokens moved from
    `wallet` to `other`), "split" or "merge" (`wallet` minted or burnt `amount` of each
    of `tokens`), "redeem" (`wallet` burnt `amount` of a resolved token paying
    `collateral` x1e6 per token), "convert" (`wallet` converted `amount` of each NO token
    in `tokens` into `amount` of each YES token in `yes`, on the NegRiskAdapter)."""

    block: int
    kind: str
    wallet: str
    tokens: tuple[int, ...]
    amount: int
    side: str = ""
    collateral: int = 0
    other: str = ""
    yes: tuple[int, ...] = ()


class PositionBook:
    """Balances and cost bases, replayed from the events (again after a reorg)."""

    def __init__(self, events: Iterable[BookEvent] = ()):
        self.events: list[BookEvent] = []
        self.balances: dict[tuple[str, int], int] = defaultdict(int)
        self.costs: dict[tuple[str, int], CostBasis] = defaultdict(CostBasis)
        for event in events:
            self.apply(event)

    def apply(self, e: BookEvent) -> None:
        self.events.append(e)
        if e.kind == "fill":
            cost = self.costs[(e.wallet, e.tokens[0])]
            price = fill_price(e.collateral, e.amount)
            (cost.buy if e.side == "BUY" else cost.sell)(price, e.amount)
        elif e.kind == "redeem":
            self.balances[(e.wallet, e.tokens[0])] -= e.amount
            self.costs[(e.wallet, e.tokens[0])].sell(e.collateral, e.amount)
        elif e.kind == "convert":
            self._convert(e)
        elif e.kind == "move":
            self.balances[(e.wallet, e.tokens[0])] -= e.amount
            self.balances[(e.other, e.tokens[0])] += e.amount
        else:
            sign = 1 if e.kind == "split" else -1
            for token in e.tokens:
                self.balances[(e.wallet, token)] += sign * e.amount
                cost = self.costs[(e.wallet, token)]
                (cost.buy if e.kind == "split" else cost.sell)(HALF, e.amount)

    def _convert(self, e: BookEvent) -> None:
        """The pnl-subgraph's conversion, as it reads the event: each NO token sold at its
        own average price, each YES token bought at the price those averages give."""
        no_avgs = []
        for token in e.tokens:
            cost = self.costs[(e.wallet, token)]
            no_avgs.append(cost.avg_price)
            cost.sell(cost.avg_price, e.amount)
            self.balances[(e.wallet, token)] -= e.amount
        if e.yes:
            price = neg_risk_yes_price(no_avgs, len(e.tokens) + len(e.yes))
        for token in e.yes:
            self.costs[(e.wallet, token)].buy(price, e.amount)
            self.balances[(e.wallet, token)] += e.amount

    def until(self, block: int) -> PositionBook:
        """The book as it was at the end of `block` (a reorg keeps blocks up to its fork)."""
        return PositionBook(e for e in self.events if e.block <= block)

    def truth(self, wallets: Iterable[str]) -> dict[str, dict[str, dict[str, int]]]:
        """{wallet: {token id: {size, avg_price, realized_pnl}}} of every position the
        wallets ever held (JSON-friendly: token ids as decimal strings)."""
        wanted = set(wallets)
        out: dict[str, dict[str, dict[str, int]]] = {w: {} for w in wanted}
        for (wallet, token), cost in self.costs.items():
            if wallet in wanted:
                out[wallet][str(token)] = {
                    "size": self.balances.get((wallet, token), 0),
                    "avg_price": cost.avg_price,
                    "realized_pnl": cost.realized_pnl,
                }
        for (wallet, token), size in self.balances.items():
            if wallet in wanted and str(token) not in out[wallet]:
                out[wallet][str(token)] = {"size": size, "avg_price": 0, "realized_pnl": 0}
        return out
