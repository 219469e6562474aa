"""Readable trades as text: a terminal table, CSV or JSON. Decimals are written as exact
decimal text, token ids as decimal text (JSON numbers would lose them), times in UTC ISO 8601.
pandas is imported here: only the `trades` command loads this module."""

from __future__ import annotations

import json
from decimal import Decimal

from polygon_pipeline.sync.trades import COLUMNS

TABLE_COLUMNS = [
    "time", "leader", "label", "question", "outcome", "side", "price", "size", "notional_usd",
    "venue",
]  # fmt: skip
_QUESTION_CHARS = 60


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
    import pandas as pd

    rows = [plain(r) for r in records]
    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if not rows:
        return "no trades\n"
    shown = frame[TABLE_COLUMNS].fillna("")
    shown["question"] = shown["question"].str.slice(0, _QUESTION_CHARS)
    return shown.to_string(index=False) + "\n"
