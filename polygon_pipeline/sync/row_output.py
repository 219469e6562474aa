"""Rows (already plain text and numbers) as a command prints them: JSON, CSV or a terminal
table, one way for every command that prints records. pandas is imported only when called."""

from __future__ import annotations

import json

QUESTION_CHARS = 60  # what a terminal table shows of a market's question


def render_rows(
    rows: list[dict],
    columns: list[str],
    fmt: str,
    empty: str,
    table_columns: list[str] | None = None,
) -> str:
    """`rows` as `fmt` (json, csv, else a table); `empty` for a table of no rows. A table
    shows `table_columns` (default: every column), blanks where a value is missing and a
    market's question cut to what a terminal line holds."""
    import pandas as pd

    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if not rows:
        return empty
    shown = frame[table_columns or columns].fillna("")
    if "question" in shown:
        shown = shown.assign(question=shown["question"].str.slice(0, QUESTION_CHARS))
    return shown.to_string(index=False) + "\n"
