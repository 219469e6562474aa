"""A leader's positions from its stored transfers and fills: exact balances from the
transfers, cost basis and realized PnL by the pnl-subgraph's rules (positions/cost.py) over
the same events in chain order (docs/positions.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from polygon_pipeline.positions.classify import (
    CONVERSION,
    FILL,
    MERGE,
    REDEMPTION,
    SPLIT,
    Conversion,
    classify,
    conversions,
    own_fill_keys,
)
from polygon_pipeline.positions.cost import (
    HALF,
    SCALE,
    CostBasis,
    fill_price,
    neg_risk_yes_price,
    truncdiv,
)


@dataclass
class Position:
    leader: str
    token_id: int
    size: int = 0  # the exact balance, from the transfers
    cost: CostBasis = field(default_factory=CostBasis)
    kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # transfers by kind
    price: int | None = None  # x1e6: the payout once resolved, else the CLOB midpoint
    realized_by_day: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # UTC
    question: str | None = None  # the market's, once `markets sync` knows the token
    outcome: str | None = None

    @property
    def unrealized_pnl(self) -> int | None:
        """size x (price - avg), x1e6; None while no price is known."""
        if self.price is None:
            return None
        return truncdiv(self.size * (self.price - self.cost.avg_price), SCALE)


def leader_positions(
    leader: str,
    transfers: list[dict],
    fills: list[dict],
    resolved: dict[int, tuple[int, int]] | None = None,
) -> list[Position]:
    """Every position `leader` ever held. `transfers`: rows with the leader as sender or
    receiver; `fills`: fills with the leader as maker (its own orders: the subgraph's rule),
    both with block_number and log_index so they interleave in chain order; `resolved`:
    token id -> (resolution block, payout x1e6), where a burn from that block on is a
    redemption at the payout, and the payout is the position's price."""
    resolved = resolved or {}
    own = [f for f in fills if f["maker"] == leader and f["side"] in ("BUY", "SELL")]
    filled, converted = own_fill_keys(own), conversions(transfers, leader)
    events = [(t["block_number"], t["log_index"], 1, t) for t in transfers]
    events += [(f["block_number"], f["log_index"], 0, f) for f in own]
    positions: dict[int, Position] = {}

    def position(token: int) -> Position:
        return positions.setdefault(token, Position(leader, token))

    for _block, _index, is_transfer, row in sorted(events, key=lambda e: e[:3]):
        pos = position(int(row["token_id"]))
        before = pos.cost.realized_pnl
        if is_transfer:
            kind = classify(row, leader, filled, converted)
            yes_price = None
            if kind == CONVERSION and row["receiver"] == leader:
                yes_price = _yes_price(converted[row["tx_hash"]], position)
            _transfer(pos, row, kind, resolved.get(pos.token_id), yes_price)
        else:
            _fill(pos, row)
        if pos.cost.realized_pnl != before:
            day = row["block_timestamp"].date().isoformat() if row["block_timestamp"] else "?"
            pos.realized_by_day[day] += pos.cost.realized_pnl - before
    for token, pos in positions.items():
        if token in resolved:
            pos.price = resolved[token][1]
    return sorted(positions.values(), key=lambda p: p.token_id)


def _fill(pos: Position, row: dict) -> None:
    """The leader's own order fill: a BUY buys, a SELL sells, at collateral / tokens."""
    price = fill_price(int(row["collateral_amount"]), int(row["token_amount"]))
    if row["side"] == "BUY":
        pos.cost.buy(price, int(row["token_amount"]))
    else:
        pos.cost.sell(price, int(row["token_amount"]))


def _yes_price(conversion: Conversion, position: Callable[[int], Position]) -> int:
    """What a conversion's YES tokens cost: from the average prices of its NO tokens (the
    pnl-subgraph reads them before selling them at that same price, which leaves them)."""
    no_avgs = [position(token).cost.avg_price for token in conversion.no_tokens]
    questions = len(conversion.no_tokens) + len(conversion.yes_tokens)
    return neg_risk_yes_price(no_avgs, questions)


def _transfer(
    pos: Position,
    row: dict,
    kind: str,
    paid: tuple[int, int] | None,
    yes_price: int | None = None,
) -> None:
    """A transfer changes the size exactly; its cost effect depends on what it was
    (`yes_price`: what a conversion's YES leg buys at)."""
    amount, incoming = int(row["amount"]), row["receiver"] == pos.leader
    if row["sender"] == row["receiver"]:
        return  # to itself: nothing moves
    pos.size += amount if incoming else -amount
    if kind == MERGE and paid is not None and row["block_number"] >= paid[0]:
        kind = REDEMPTION
    pos.kinds[kind] += 1
    if kind == SPLIT:
        pos.cost.buy(HALF, amount)
    elif kind == MERGE:
        pos.cost.sell(HALF, amount)
    elif kind == REDEMPTION:
        pos.cost.sell(paid[1], amount)
    elif kind == CONVERSION and yes_price is not None:
        pos.cost.buy(yes_price, amount)
    elif kind == CONVERSION:
        pos.cost.sell(pos.cost.avg_price, amount)  # a NO token given up at its own cost
    elif kind != FILL and not incoming:
        pos.cost.drop(amount)  # a plain transfer out; one in has no known cost
