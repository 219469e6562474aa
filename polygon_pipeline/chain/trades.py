"""A fill's trade view, from the point of view of the order's maker, the same in every
event layout (the decoder has already normalized side, token and amounts).

Counting rule (see README, "Counting a leader's trades"): in a matched trade the exchange
emits one OrderFilled per maker order (taker topic = the taker order's owner) and one for
the taker order itself (maker topic = its owner, taker topic = the exchange). Every order a
leader has filled therefore appears exactly once with the leader in the *maker* topic, so a
leader's trades are the fills whose maker is the leader; fills where the leader is only the
taker are the counterparties' side of the same match and are not counted again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal

TOKEN_DECIMALS = 6  # USDC.e, pUSD and the outcome tokens all use 6 decimals
SCALE = Decimal(10) ** TOKEN_DECIMALS
_PRICE_CONTEXT = Context(prec=40)


@dataclass(frozen=True, slots=True)
class Trade:
    side: Literal["BUY", "SELL"]
    token_id: int
    price: Decimal  # collateral per outcome token
    size: Decimal  # outcome tokens
    collateral: Decimal  # USDC.e or pUSD


def trade_of(record: Mapping) -> Trade | None:
    """The trade view of a stored fill row or a ground-truth record (anything with `side`,
    `token_id`, `collateral_amount` and `token_amount`); None for a fill that is no trade."""
    side, tokens = record["side"], record["token_amount"]
    if side is None or not tokens:
        return None
    collateral = record["collateral_amount"]
    return Trade(
        side=side,
        token_id=record["token_id"],
        price=_PRICE_CONTEXT.divide(Decimal(collateral), Decimal(tokens)),
        size=Decimal(tokens) / SCALE,
        collateral=Decimal(collateral) / SCALE,
    )
