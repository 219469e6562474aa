"""Partitions of the reconciled fills: exchange (static) x block window (dynamic).

Window keys are zero-padded and sortable, `0080000000-0080009999`. The default window of
10,000 blocks (about 5.5 hours of Polygon) makes a year about 1,600 windows per exchange,
well under Dagster's comfortable partition counts.
"""

from __future__ import annotations

import os

from dagster import (
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from polygon_pipeline.chain.exchanges import EXCHANGES

_DIGITS = 10


def window_blocks() -> int:
    """Blocks per window: POLYGON_PARTITION_WINDOW_BLOCKS (default 10,000). Changing it later
    leaves windows already registered as they are."""
    return int(os.environ.get("POLYGON_PARTITION_WINDOW_BLOCKS", "10000"))


exchange_partitions = StaticPartitionsDefinition(list(EXCHANGES))
window_partitions = DynamicPartitionsDefinition(name="block_windows")
fills_partitions = MultiPartitionsDefinition(
    {"exchange": exchange_partitions, "window": window_partitions}
)


def window_key(start: int, size: int) -> str:
    """The key of the window of `size` blocks that starts at `start`."""
    return f"{start:0{_DIGITS}d}-{start + size - 1:0{_DIGITS}d}"


def window_of(block: int, size: int) -> int:
    """The first block of the window holding `block`."""
    return block - block % size


def parse_window(key: str) -> tuple[int, int]:
    try:
        lo, hi = (int(part) for part in key.split("-"))
    except ValueError:
        raise ValueError(
            f"not a block window key: {key!r} (expected e.g. 0080000000-0080009999)"
        ) from None
    if hi < lo:
        raise ValueError(f"block window {key!r} ends before it starts")
    return lo, hi
