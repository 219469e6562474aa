"""Per leader and UTC day: trades (fills where the leader is maker, each order once, V1 and V2
alike), buys, sells, tokens, collateral traded and the average price paid.

pandas is imported inside the functions: this module is imported by the Dagster definitions,
which every run's process and the CLI load, and pandas alone adds about a second to the start
of the many that never summarise anything."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine

from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.store.fills_repo import leader_maker_fills

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["leader", "day", "trades", "buys", "sells", "tokens", "usdc", "avg_price"]
MARKET_COLUMNS = ["leader", "day", "question", "trades", "notional_usd"]
UNKNOWN_MARKET = "(market not known yet)"


def leader_daily_summaries(engine: Engine) -> pd.DataFrame:
    """The summaries of every stored fill whose maker is a followed leader."""
    with engine.connect() as conn:
        rows = leader_maker_fills(conn)
    return daily_summaries(rows)


def daily_summaries(rows: list[dict]) -> pd.DataFrame:
    """One row per leader and UTC day, from stored fill rows whose maker is the leader."""
    import pandas as pd

    records = []
    for row in rows:
        view = trade_of(row)
        if view is None or row["block_timestamp"] is None:
            continue
        records.append(
            {
                "leader": row["maker"],
                "day": row["block_timestamp"].date(),
                "side": view.side,
                "size": float(view.size),
                "usdc": float(view.collateral),
            }
        )
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(records)
    frame["buy"] = (frame["side"] == "BUY").astype(int)
    summary = frame.groupby(["leader", "day"], as_index=False).agg(
        trades=("side", "count"), buys=("buy", "sum"), tokens=("size", "sum"), usdc=("usdc", "sum")
    )
    summary["sells"] = summary["trades"] - summary["buys"]
    summary["avg_price"] = (summary["usdc"] / summary["tokens"]).round(6)
    return summary[COLUMNS].sort_values(["day", "leader"]).reset_index(drop=True)


def leader_market_notional(engine: Engine) -> pd.DataFrame:
    """Per leader, UTC day and market: trades and notional (USD), from the leader_trades
    view (sync/trades.py); a market not looked up yet is one row of its own."""
    from polygon_pipeline.sync.trades import leader_trades

    return market_notional(leader_trades(engine))


def market_notional(records: list[dict]) -> pd.DataFrame:
    """One row per leader, UTC day and question, from readable trades."""
    import pandas as pd

    rows = [
        {
            "leader": r["leader"],
            "day": r["time"].date(),
            "question": r["question"] or UNKNOWN_MARKET,
            "notional_usd": float(r["notional_usd"]),
        }
        for r in records
        if r["time"] is not None
    ]
    if not rows:
        return pd.DataFrame(columns=MARKET_COLUMNS)
    frame = pd.DataFrame(rows)
    summary = frame.groupby(["leader", "day", "question"], as_index=False).agg(
        trades=("notional_usd", "count"), notional_usd=("notional_usd", "sum")
    )
    summary["notional_usd"] = summary["notional_usd"].round(6)
    return summary[MARKET_COLUMNS].sort_values(["day", "leader", "question"]).reset_index(drop=True)
