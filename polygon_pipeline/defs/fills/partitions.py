"""Partitions of the reconciled fills: exchange family (static, the registry's) x block window
(dynamic), so the UI shows the grid and any rectangle of it can be launched.

Window keys are zero-padded and sortable, `0080000000-0080009999`; the default window of
10,000 blocks (about 5.5 hours of Polygon) makes a year about 1,600 windows. A grid key is
`exchange|window` (Dagster joins the dimensions in name order).

Dynamic partition keys keep the order they were added in, and the UI's range selection (and a
run over a range of keys) follows it. Windows are therefore only ever appended, ascending
from a fixed origin (`window_origin`): the window of the first block any venue trades in.
Nothing older has fills, so no window ever has to be inserted before another
(docs/dagster.md, "Windows in ascending order").
"""

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

from polygon_pipeline.settings import Settings
from polygon_pipeline.sync.windows import EXCHANGE_NAMES, Cell, Span

_DIGITS = 10
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
window_partitions = DynamicPartitionsDefinition(name="block_windows")
grid_partitions = MultiPartitionsDefinition(
    {EXCHANGE_DIM: exchange_partitions, WINDOW_DIM: window_partitions}
)


def window_key(start: int, size: int) -> str:
    """The key of the window of `size` blocks that starts at `start`."""
    return f"{start:0{_DIGITS}d}-{start + size - 1:0{_DIGITS}d}"


def window_of(block: int, size: int) -> int:
    """The first block of the window holding `block`."""
    return block - block % size


def window_origin(settings: Settings) -> int:
    """Where the registered windows begin: the window of the first block any venue trades in
    (the registry's, or POLYGON_VENUE_BLOCKS'); nothing before it has fills."""
    first = min(v.first_block for v in settings.venues)
    return window_of(first, settings.partition_window_blocks)


def cell_key(exchange: str, window: str) -> str:
    """The grid key of one exchange's window."""
    return str(MultiPartitionKey({EXCHANGE_DIM: exchange, WINDOW_DIM: window}))


def parse_window(key: str) -> tuple[int, int]:
    """(first, last) block of a window key; ValueError naming the key otherwise."""
    parts = key.split("-")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == _DIGITS for p in parts):
        raise ValueError(f"not a block window key: {key!r} (expected e.g. 0080000000-0080009999)")
    lo, hi = int(parts[0]), int(parts[1])
    if hi < lo:
        raise ValueError(f"block window {key!r} ends before it starts")
    return lo, hi


def split_keys(keys: Iterable[str]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """The well-formed window keys with their blocks, and the malformed ones (a key typed by
    hand in the UI): reported and skipped, never fatal."""
    windows, bad = {}, []
    for key in keys:
        try:
            windows[key] = parse_window(key)
        except ValueError:
            bad.append(key)
    return windows, bad


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


def windows_between(first: int, last: int, size: int) -> list[str]:
    """Keys of the whole windows from the one holding `first` to the last ending by `last`."""
    start, keys = window_of(first, size), []
    while start + size - 1 <= last:
        keys.append(window_key(start, size))
        start += size
    return keys


@dataclass
class Registration:
    added: list[str]
    newest: str | None  # the newest registered window afterwards
    dropped: list[str]  # malformed keys found registered and deleted

    def summary(self) -> str:
        parts = [f"{len(self.added)} new window(s), registered through {self.newest or 'none'}"]
        if self.dropped:
            parts.append(
                f"malformed key(s) deleted: {', '.join(map(repr, self.dropped))} "
                "(not block window keys, expected e.g. 0080000000-0080009999)"
            )
        return "; ".join(parts)


def register_through(instance: DagsterInstance, origin: int, size: int, last: int) -> Registration:
    """Append every whole window after the newest registered one (from `origin` when none is)
    up to block `last`, in one call: the list only ever grows at its end, ascending, so a
    range of keys in the UI is a range of blocks. Malformed keys found (typed in the UI) are
    deleted."""
    name = window_partitions.name
    existing, dropped = registered_windows(instance)
    for key in dropped:
        instance.delete_dynamic_partition(name, key)
    newest = max(existing, key=lambda k: existing[k][1], default=None)
    start = existing[newest][1] + 1 if newest else origin
    added = windows_between(start, last, size)
    if added:
        instance.add_dynamic_partitions(name, added)
    return Registration(added, added[-1] if added else newest, dropped)
