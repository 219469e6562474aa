"""The pnl-subgraph's cost rules (Polymarket `polymarket-subgraph`, `pnl-subgraph/`), in its
units: amounts and prices scaled by 1e6, integer division. docs/positions.md has the rules,
their source and where this project differs.

buy:  avg = (avg * amount + price * q) / (amount + q); amount += q
sell: q' = min(q, amount); realized += q' * (price - avg) / 1e6; amount -= q'; avg unchanged
neg-risk conversion: each NO sold at its own avg, each YES bought at `neg_risk_yes_price`
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE = 10**6  # collateral has 6 decimals; prices are collateral per token, x1e6
HALF = SCALE // 2  # a split buys, a merge sells, both outcomes at 0.50


def truncdiv(a: int, b: int) -> int:
    """Integer division toward zero, as graph-ts BigInt divides (Python's // floors)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def fill_price(collateral: int, tokens: int) -> int:
    """A fill's price per token, x1e6 (the subgraph's `price` of an OrderFilled)."""
    return collateral * SCALE // tokens if tokens else 0


def neg_risk_yes_price(no_avg_prices: list[int], question_count: int) -> int:
    """The price a conversion buys each YES token at, x1e6 (the pnl-subgraph's
    NegRiskAdapterMapping handlePositionsConverted and computeNegRiskYesPrice): the NO
    tokens' average prices averaged, then `(no_price * n - 1e6 * (n - 1)) / (questions - n)`
    for n NO tokens; negative when the NO tokens cost less than the collateral returned."""
    n = len(no_avg_prices)
    no_price = truncdiv(sum(no_avg_prices), n)
    return truncdiv(no_price * n - SCALE * (n - 1), question_count - n)


@dataclass
class CostBasis:
    """One wallet's cost-tracked amount, average price and realized PnL in one position."""

    amount: int = 0
    avg_price: int = 0
    realized_pnl: int = 0

    def buy(self, price: int, quantity: int) -> None:
        if quantity <= 0:
            return
        total = self.amount + quantity
        self.avg_price = truncdiv(self.avg_price * self.amount + price * quantity, total)
        self.amount = total

    def sell(self, price: int, quantity: int) -> None:
        sold = min(quantity, self.amount)
        if sold <= 0:
            return
        self.realized_pnl += truncdiv(sold * (price - self.avg_price), SCALE)
        self.amount -= sold

    def drop(self, quantity: int) -> None:
        """Tokens that left without a price (a plain transfer out): no PnL, avg unchanged."""
        self.amount -= min(quantity, self.amount)
