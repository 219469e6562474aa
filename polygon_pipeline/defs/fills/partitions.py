"""Partitions of the reconciled fills: exchange family (static, the registry's) x block window
(dynamic), so the UI shows the grid and any rectangle of it can be launched. A grid key is
`exchange|window` (Dagster joins the dimensions in name order); windows, their keys and
their registration, ascending from a fixed origin: sync/window_keys.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from polygon_pipeline.sync.window_keys import WINDOWS_NAME, parse_window, split_keys
from polygon_pipeline.sync.windows import EXCHANGE_NAMES, Cell, Span

UNFINISHED_RUNS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
EXCHANGE_DIM, WINDOW_DIM = "exchange", "window"

exchange_partitions = StaticPartitionsDefinition(list(EXCHANGE_NAMES))
# The name is what a deployment's registered windows are stored under: kept from before the
# grid, so they survive the upgrade.
window_partitions = DynamicPartitionsDefinition(name=WINDOWS_NAME)
grid_partitions = MultiPartitionsDefinition(
    {EXCHANGE_DIM: exchange_partitions, WINDOW_DIM: window_partitions}
)


def cell_key(exchange: str, window: str) -> str:
    """The grid key of one exchange's window."""
    return str(MultiPartitionKey({EXCHANGE_DIM: exchange, WINDOW_DIM: window}))


@dataclass
class Cells:
    """Grid keys sorted out: each well-formed window's blocks and the exchanges wanted in it,
    and the keys whose window is malformed (reported and skipped, never fatal)."""

    windows: dict[str, Span] = field(default_factory=dict)
    exchanges: dict[str, list[str]] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)

    @property
    def cells(self) -> list[Cell]:
        return [(x, w) for w, names in self.exchanges.items() for x in names]


def split_cells(keys: Iterable[str]) -> Cells:
    found = Cells()
    for key in keys:
        exchange, _, window = str(key).partition("|")
        try:
            found.windows[window] = parse_window(window)
        except ValueError:
            found.bad.append(str(key))
            continue
        found.exchanges.setdefault(window, []).append(exchange)
    return found


def registered_windows(instance: DagsterInstance) -> tuple[dict[str, Span], list[str]]:
    """The registered windows, and any malformed keys among them (a mistyped key added by
    hand in the UI: reported, never fatal)."""
    return split_keys(instance.get_dynamic_partitions(window_partitions.name))


def newest_window_end(instance: DagsterInstance) -> int | None:
    """The last block of the newest registered window; None before any is registered."""
    windows, _bad = registered_windows(instance)
    return max((hi for _lo, hi in windows.values()), default=None)
