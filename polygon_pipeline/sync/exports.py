"""Parquet files a user can point DuckDB, polars or pandas at (docs/data.md, "Exports").

`{export_dir}/fills/window=<key>/fills.parquet` and `.../trades/window=<key>/trades.parquet`:
one file per block window (hive-style, so `read_parquet('.../fills/*/*.parquet')` reads them
all, with `window` as a column). Exact integers stay exact: uint256 values (token ids,
amounts) as decimal text; sizes and notionals as decimal128(38, 6) (6-decimal units, exact);
the price as decimal128(38, 18); times as UTC timestamps. A file is written whole and moved
into place, so a reader never sees half of one.

pyarrow is imported inside the functions: the Dagster definitions import this module, and
most of their processes never export anything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from polygon_pipeline.store.schema import fills
from polygon_pipeline.store.trades_repo import fills_in_blocks
from polygon_pipeline.store.types import Uint256
from polygon_pipeline.sync.trades import COLUMNS, TradeFilter, leader_trades

if TYPE_CHECKING:
    import pyarrow as pa

PRICE_PLACES = 18
_DECIMAL_COLUMNS = {"price": PRICE_PLACES, "size": 6, "notional_usd": 6, "fee": 6}
_INT_COLUMNS = {"outcome_index": "int32", "block_number": "int64", "log_index": "int32"}


def _trade_type(name: str) -> pa.DataType:
    import pyarrow as pa

    if name == "time":
        return pa.timestamp("us", tz="UTC")
    if name in _DECIMAL_COLUMNS:
        return pa.decimal128(38, _DECIMAL_COLUMNS[name])
    if name in _INT_COLUMNS:
        return getattr(pa, _INT_COLUMNS[name])()
    return pa.string()


def _cell(name: str, value: object) -> object:
    if value is None:
        return None
    if name in _DECIMAL_COLUMNS:
        return Decimal(value).quantize(Decimal(1).scaleb(-_DECIMAL_COLUMNS[name]))
    if name == "token_id":
        return str(value)
    return value


def trades_table(records: list[dict]) -> pa.Table:
    """Readable trades (sync/trades.py) as an Arrow table."""
    import pyarrow as pa

    schema = pa.schema([(name, _trade_type(name)) for name in COLUMNS])
    columns = {name: [_cell(name, r[name]) for r in records] for name in COLUMNS}
    return pa.Table.from_pydict(columns, schema=schema)


def _fill_type(column) -> pa.DataType:
    import pyarrow as pa

    if isinstance(column.type, Uint256):
        return pa.string()
    if column.name in ("block_timestamp", "first_seen_at"):
        return pa.timestamp("us", tz="UTC")
    python = column.type.python_type
    return {int: pa.int64(), str: pa.string()}[python]


def fills_table(rows: list[dict]) -> pa.Table:
    """Stored fills as an Arrow table, every column of the `fills` table."""
    import pyarrow as pa

    fields = [(c.name, _fill_type(c)) for c in fills.columns]
    columns = {
        name: [r[name] if kind != pa.string() or r[name] is None else str(r[name]) for r in rows]
        for name, kind in fields
    }
    return pa.Table.from_pydict(columns, schema=pa.schema(fields))


def write_parquet(table: pa.Table, path: Path) -> Path:
    """Write `table` to `path` whole: a temporary file beside it, then renamed."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table, partial)
    os.replace(partial, path)
    return path


@dataclass(frozen=True)
class WindowExport:
    fills: int
    trades: int
    fills_path: Path
    trades_path: Path


def export_window(engine: Engine, export_dir: Path, key: str, lo: int, hi: int) -> WindowExport:
    """The fills and leader trades of blocks lo..hi as the window `key`'s two files."""
    with engine.connect() as conn:
        rows = fills_in_blocks(conn, lo, hi)
    records = leader_trades(engine, TradeFilter(from_block=lo, to_block=hi))
    fills_path = write_parquet(
        fills_table(rows), export_dir / "fills" / f"window={key}" / "fills.parquet"
    )
    trades_path = write_parquet(
        trades_table(records), export_dir / "trades" / f"window={key}" / "trades.parquet"
    )
    return WindowExport(len(rows), len(records), fills_path, trades_path)
