"""Readable trades as text: a terminal table, CSV or JSON. Decimals are written as exact
decimal text, token ids as decimal text (JSON numbers would lose them), times in UTC ISO 8601.
pandas is imported here: only the `trades` command loads this module."""

from __future__ import annotations

from decimal import Decimal

from polygon_pipeline.sync.row_output import render_rows
from polygon_pipeline.sync.trades import COLUMNS

TABLE_COLUMNS = [
    "time", "leader", "label", "question", "outcome", "side", "price", "size", "notional_usd",
    "venue",
]  # fmt: skip


def _text(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, int) and value >= 2**53:  # token ids: beyond what JSON keeps exact
        return str(value)
    return value


def plain(record: dict) -> dict:
    return {name: _text(record[name]) for name in COLUMNS}


def preview(records: list[dict]) -> str:
    """A Markdown table of trades, for Dagster metadata (the UI)."""
    import pandas as pd

    if not records:
        return "no trades yet"
    frame = pd.DataFrame([plain(r) for r in records], columns=COLUMNS, dtype=object)
    return frame[TABLE_COLUMNS].fillna("").to_markdown(index=False)


def render(records: list[dict], fmt: str) -> str:
    return render_rows([plain(r) for r in records], COLUMNS, fmt, "no trades\n", TABLE_COLUMNS)
