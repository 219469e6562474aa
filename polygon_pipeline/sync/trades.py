"""Trades a person can read: the leader_trades view with side, price, size and notional
worked out exactly (chain/trades.py), as records for a table, CSV, JSON or Parquet.

Amounts are Decimals (exact); a fill whose market is not known yet has empty market
fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine

from polygon_pipeline.chain.trades import SCALE, trade_of
from polygon_pipeline.store.trades_repo import leader_trade_rows

COLUMNS = [
    "time", "leader", "label", "question", "outcome", "outcome_index", "side", "price",
    "size", "notional_usd", "fee", "fee_asset", "venue", "block_number", "tx_hash",
    "log_index", "token_id", "condition_id", "slug", "event_title",
]  # fmt: skip


@dataclass(frozen=True)
class TradeFilter:
    leader: str | None = None
    since: datetime | None = None
    from_block: int | None = None
    to_block: int | None = None


def trade_record(row: dict) -> dict | None:
    """One view row as a readable trade; None for a fill that is no trade."""
    view = trade_of(row)
    if view is None:
        return None
    return {
        "time": row["time"],
        "leader": row["leader"],
        "label": row["label"],
        "question": row["question"],
        "outcome": row["outcome"],
        "outcome_index": row["outcome_index"],
        "side": view.side,
        "price": view.price,
        "size": view.size,
        "notional_usd": view.collateral,
        "fee": Decimal(row["fee"]) / SCALE,  # in fee_asset: collateral (USD) or shares
        "fee_asset": row["fee_asset"],
        "venue": row["venue"],
        "block_number": row["block_number"],
        "tx_hash": row["tx_hash"],
        "log_index": row["log_index"],
        "token_id": row["token_id"],
        "condition_id": row["condition_id"],
        "slug": row["slug"],
        "event_title": row["event_title"],
    }


def leader_trades(engine: Engine, which: TradeFilter = TradeFilter()) -> list[dict]:
    with engine.connect() as conn:
        rows = leader_trade_rows(
            conn,
            leader=which.leader,
            since=which.since,
            from_block=which.from_block,
            to_block=which.to_block,
        )
    return [r for r in map(trade_record, rows) if r is not None]
