"""A fill's trade view, from the point of view of the order's maker.

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

from polygon_pipeline.chain.fills import Fill

COLLATERAL_ASSET_ID = 0
TOKEN_DECIMALS = 6  # USDC.e and the outcome tokens both use 6 decimals
_SCALE = Decimal(10) ** TOKEN_DECIMALS
_PRICE_CONTEXT = Context(prec=40)


@dataclass(frozen=True, slots=True)
class Trade:
    side: Literal["BUY", "SELL"]
    token_id: int
    price: Decimal  # collateral per outcome token
    size: Decimal  # outcome tokens
    collateral: Decimal  # USDC


def trade_view(fill: Fill) -> Trade | None:
    """BUY when the maker gives collateral (asset id 0); None for a fill that is not a trade."""
    return trade_from_amounts(
        fill.maker_asset_id, fill.taker_asset_id, fill.maker_amount, fill.taker_amount
    )


def trade_of(record: Mapping) -> Trade | None:
    """The trade view of a stored fill row or a ground-truth record (anything with the four
    asset and amount fields)."""
    return trade_from_amounts(
        record["maker_asset_id"],
        record["taker_asset_id"],
        record["maker_amount"],
        record["taker_amount"],
    )


def trade_from_amounts(
    maker_asset_id: int, taker_asset_id: int, maker_amount: int, taker_amount: int
) -> Trade | None:
    """The trade view from a fill's assets and amounts (a stored row has them too)."""
    if maker_asset_id == COLLATERAL_ASSET_ID and taker_asset_id != COLLATERAL_ASSET_ID:
        side, token_id = "BUY", taker_asset_id
        collateral, tokens = maker_amount, taker_amount
    elif taker_asset_id == COLLATERAL_ASSET_ID and maker_asset_id != COLLATERAL_ASSET_ID:
        side, token_id = "SELL", maker_asset_id
        collateral, tokens = taker_amount, maker_amount
    else:
        return None
    if tokens == 0:
        return None
    return Trade(
        side=side,
        token_id=token_id,
        price=_PRICE_CONTEXT.divide(Decimal(collateral), Decimal(tokens)),
        size=Decimal(tokens) / _SCALE,
        collateral=Decimal(collateral) / _SCALE,
    )


def is_leader_trade(fill: Fill, leaders: set[str]) -> bool:
    """The counting rule above: a fill is a leader's trade when the leader is its maker."""
    return fill.maker in leaders
