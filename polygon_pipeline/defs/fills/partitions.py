"""Partitions of the reconciled fills: block windows (dynamic), each covering every exchange.

Window keys are zero-padded and sortable, `0080000000-0080009999`. The default window of
10,000 blocks (about 5.5 hours of Polygon) makes a year about 1,600 windows. A window's run
queries all exchanges and venues in one filter, so an exchange dimension would only double
the runs and the calls.

Dynamic partition keys keep the order they were added in, and the UI's range selection (and a
run over a range of keys) follows that order: windows are therefore always registered in
ascending block order (`register_windows`), older ones included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dagster import DagsterInstance, DagsterRunStatus, DynamicPartitionsDefinition, RunsFilter

# Dagster exports no public name for filtering backfills by status.
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus

from polygon_pipeline.sync.windows import Span

_DIGITS = 10
UNFINISHED_RUNS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

window_partitions = DynamicPartitionsDefinition(name="block_windows")


def window_key(start: int, size: int) -> str:
    """The key of the window of `size` blocks that starts at `start`."""
    return f"{start:0{_DIGITS}d}-{start + size - 1:0{_DIGITS}d}"


def window_of(block: int, size: int) -> int:
    """The first block of the window holding `block`."""
    return block - block % size


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


class ReorderRefused(RuntimeError):
    """An older window cannot be inserted now: runs or backfills of windows are in flight."""


@dataclass
class Registration:
    added: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # re-added behind an older new window
    dropped: list[str] = field(default_factory=list)  # malformed keys found and deleted

    def summary(self) -> str:
        parts = [f"{len(self.added)} new window(s)"]
        if self.moved:
            parts.append(f"{len(self.moved)} newer window(s) moved behind them")
        if self.dropped:
            parts.append(
                f"malformed key(s) deleted: {', '.join(map(repr, self.dropped))} "
                "(not block window keys, expected e.g. 0080000000-0080009999)"
            )
        return "; ".join(parts)


def register_windows(instance: DagsterInstance, keys: Sequence[str]) -> Registration:
    """Add window keys so that the registered list stays in ascending block order.

    Malformed keys given are refused (ValueError naming them); malformed keys found
    registered (typed in the UI) are deleted. Keys after the newest registered one are
    appended: the common case, which touches nothing else. A key older than the newest is
    appended too, then every window that must come after it is moved behind it, one at a
    time (deleted and at once re-added): no window is ever dropped, one is absent only
    between those two statements, and an interrupted move leaves at most one window out,
    which registering its range again restores. Moving changes which keys a range of keys
    spans, so it is refused (ReorderRefused) while a run or backfill of windows is queued or
    in progress. Materializations are stored per key: they are kept."""
    for key in keys:
        parse_window(key)
    name = window_partitions.name
    existing, dropped = split_keys(instance.get_dynamic_partitions(name))
    new = sorted(set(keys) - set(existing))
    order = list(existing) + new
    target = sorted(order)
    pairs = enumerate(zip(order, target, strict=True))
    settled = next((i for i, (now, wanted) in pairs if now != wanted), len(order))
    to_move = [key for key in target[settled:] if key in existing]
    if to_move:
        _refuse_while_in_flight(instance, target[settled])
    for key in dropped:
        instance.delete_dynamic_partition(name, key)
    if new:
        instance.add_dynamic_partitions(name, new)
    for key in target[settled:]:  # new keys are re-added too, so the tail ends up sorted
        instance.delete_dynamic_partition(name, key)
        instance.add_dynamic_partitions(name, [key])
    return Registration(added=new, moved=to_move, dropped=dropped)


def _refuse_while_in_flight(instance: DagsterInstance, first_moved: str) -> None:
    runs = [
        run
        for run in instance.get_runs(RunsFilter(statuses=UNFINISHED_RUNS))
        if split_keys(run.tags[tag] for tag in (PARTITION_TAG, RANGE_START_TAG) if tag in run.tags)[
            0
        ]
    ]
    backfills = instance.get_backfills_count(
        BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED])
    )
    if runs or backfills:
        raise ReorderRefused(
            f"windows from {first_moved} on must be moved to keep the list in block order: "
            f"not while {len(runs)} run(s) of windows and {backfills} "
            "backfill(s) are queued or in progress (register again once they have finished)"
        )
