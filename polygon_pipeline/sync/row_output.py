"""Rows (already plain text and numbers) as a command prints them: JSON, CSV or a terminal
table, one way for every command that prints records. pandas is imported only when called."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pandas import DataFrame


def render_rows(
    rows: list[dict],
    columns: list[str],
    fmt: str,
    empty: str,
    table: Callable[[DataFrame], DataFrame] | None = None,
) -> str:
    """`rows` as `fmt` (json, csv, else a table); `empty` for a table of no rows. `table`
    picks what the terminal shows of every column (blanks where a value is missing)."""
    import pandas as pd

    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if not rows:
        return empty
    shown = frame.fillna("")
    return (table(shown) if table else shown).to_string(index=False) + "\n"


QUESTION_CHARS = 60  # what a terminal table shows of a market's question


def short_questions(frame: DataFrame) -> DataFrame:
    """The frame with its `question` column cut to what a terminal line holds."""
    return frame.assign(question=frame["question"].str.slice(0, QUESTION_CHARS))
