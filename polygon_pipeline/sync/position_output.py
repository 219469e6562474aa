"""Positions as rows a person reads: the market's question and outcome (once `markets sync`
knows the token), sizes, prices and PnL as exact decimal text (the store's integers are
x1e6), token ids as decimal text, as a table, CSV or JSON."""

from __future__ import annotations

from decimal import Decimal

from polygon_pipeline.positions.cost import SCALE
from polygon_pipeline.positions.ledger import Position
from polygon_pipeline.sync.row_output import render_rows

COLUMNS = [
    "leader", "token_id", "question", "outcome", "size", "avg_price", "realized_pnl",
    "unrealized_pnl", "cur_price", "cost_known", "splits", "merges", "conversions",
    "redemptions", "fills", "transfers",
]  # fmt: skip
# A terminal shows the market first and the long token id last.
TABLE_COLUMNS = [c for c in COLUMNS if c != "token_id"] + ["token_id"]


def _units(value: int | None) -> str | None:
    if value is None:
        return None
    return format((Decimal(value) / SCALE).normalize(), "f")


def position_row(p: Position) -> dict:
    """One position's row (unrealized and current price empty while no price is known)."""
    return {
        "leader": p.leader,
        "token_id": str(p.token_id),
        "question": p.question,
        "outcome": p.outcome,
        "size": _units(p.size),
        "avg_price": _units(p.cost.avg_price),
        "realized_pnl": _units(p.cost.realized_pnl),
        "unrealized_pnl": _units(p.unrealized_pnl),
        "cur_price": _units(p.price),
        "cost_known": p.cost.amount == p.size,
        "splits": p.kinds.get("split", 0),
        "merges": p.kinds.get("merge", 0),
        "conversions": p.kinds.get("conversion", 0),
        "redemptions": p.kinds.get("redemption", 0),
        "fills": p.kinds.get("fill", 0),
        "transfers": p.kinds.get("transfer", 0),
    }


def render_positions(positions: list[Position], fmt: str) -> str:
    rows = [position_row(p) for p in positions]
    return render_rows(rows, COLUMNS, fmt, "no positions\n", TABLE_COLUMNS)


def positions_preview(positions: list[Position], rows: int = 20) -> str:
    """A Markdown table of the largest open positions, for Dagster metadata (the UI)."""
    import pandas as pd

    shown = sorted(positions, key=lambda p: -p.size)[:rows]
    if not shown:
        return "no positions yet"
    frame = pd.DataFrame([position_row(p) for p in shown], columns=TABLE_COLUMNS, dtype=object)
    return frame.fillna("").to_markdown(index=False)


def daily_pnl_preview(days: list[dict], rows: int = 30) -> str:
    """The last `rows` (leader, day, realized PnL in USD) rows as Markdown."""
    import pandas as pd

    if not days:
        return "no realized PnL yet"
    frame = pd.DataFrame(days, columns=["leader", "day", "realized_pnl"])
    frame["realized_pnl"] = frame["realized_pnl"].map(_units)
    return frame.tail(rows).to_markdown(index=False)
