"""How the devnet emits each `OrderFilled` layout of chain/events.py, and what it then records
as the truth: one `DEVNET_LAYOUTS` entry per layout, so a new layout costs its entry and its
encoder here (the exchange code and the generator are layout-blind).

The truth is written from the order's own terms (`FillRecord`), never by decoding the event,
so the decoder is checked against it rather than against itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from polygon_pipeline.chain.events import V1, V2, Layout

COLLATERAL = 0  # the asset id that names collateral


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One order fill the generator asks the exchange code to emit, in the order's terms:
    a BUY gives `maker_amount` collateral for `taker_amount` tokens, a SELL the reverse."""

    order_hash: bytes
    maker: str
    taker: str
    side: Literal["BUY", "SELL"]
    token_id: int
    maker_amount: int
    taker_amount: int
    fee: int
    builder: bytes = bytes(32)
    metadata: bytes = bytes(32)

    @property
    def asset_ids(self) -> tuple[int, int]:
        """(maker asset, taker asset), collateral being asset 0."""
        return (COLLATERAL, self.token_id) if self.side == "BUY" else (self.token_id, COLLATERAL)


def _v1_words(r: FillRecord) -> list[int]:
    """V1 names both assets; the side is implied by which one is collateral."""
    return [*r.asset_ids, r.maker_amount, r.taker_amount, r.fee]


def _v2_words(r: FillRecord) -> list[int]:
    """V2 names the side (0 BUY, 1 SELL) and the token, then builder and metadata."""
    side = 0 if r.side == "BUY" else 1
    extra = [int.from_bytes(r.builder, "big"), int.from_bytes(r.metadata, "big")]
    return [side, r.token_id, r.maker_amount, r.taker_amount, r.fee, *extra]


@dataclass(frozen=True)
class DevnetLayout:
    """What the devnet needs to know about one layout beyond its ABI."""

    layout: Layout
    words: Callable[[FillRecord], list[int]]  # the event's data words, in ABI order
    buy_fee_asset: Literal["token", "collateral"]  # a BUY's fee (a SELL's is collateral)
    operator_fills: bool  # the exchange has fillOrder: an operator fills an order directly

    @property
    def carries_builder(self) -> bool:
        """Whether the event has the builder and metadata words (read off the ABI)."""
        return any(name == "builder" for name, _ in self.layout.inputs)


DEVNET_LAYOUTS: dict[str, DevnetLayout] = {
    entry.layout.name: entry
    for entry in (
        DevnetLayout(V1, _v1_words, buy_fee_asset="token", operator_fills=True),
        DevnetLayout(V2, _v2_words, buy_fee_asset="collateral", operator_fills=False),
    )
}


def devnet_layout(layout: Layout) -> DevnetLayout:
    """The devnet's entry for a registry layout, with an error that says what to add."""
    try:
        return DEVNET_LAYOUTS[layout.name]
    except KeyError:
        raise ValueError(
            f"layout {layout.name!r} has no entry in devnet/layouts.py DEVNET_LAYOUTS"
        ) from None


def truth_terms(record: FillRecord, layout: Layout) -> dict:
    """What the exchange was asked to emit, in the normalized fill's terms."""
    entry = devnet_layout(layout)
    buy = record.side == "BUY"
    maker_asset, taker_asset = record.asset_ids
    return {
        "order_hash": "0x" + record.order_hash.hex(),
        "maker": record.maker,
        "taker": record.taker,
        "side": record.side,
        "token_id": record.token_id,
        "maker_asset_id": maker_asset,
        "taker_asset_id": taker_asset,
        "maker_amount": record.maker_amount,
        "taker_amount": record.taker_amount,
        "fee": record.fee,
        "fee_asset": entry.buy_fee_asset if buy else "collateral",
        "collateral_amount": record.maker_amount if buy else record.taker_amount,
        "token_amount": record.taker_amount if buy else record.maker_amount,
        "builder": "0x" + record.builder.hex() if entry.carries_builder else None,
        "metadata": "0x" + record.metadata.hex() if entry.carries_builder else None,
    }
