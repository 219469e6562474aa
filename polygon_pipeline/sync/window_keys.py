"""Block windows as keys, and registering them: pure, and free of Dagster, so that
`polygon-pipeline windows register` loads Dagster's instance API only, not every definition
(the Dagster layer, defs/fills/partitions.py, builds its partitions on these).

Window keys are zero-padded and sortable, `0080000000-0080009999`. Dynamic partition keys
keep the order they were added in, and the UI's range selection (and a run over a range of
keys) follows it: windows are therefore only ever appended, ascending from a fixed origin
(`window_origin`): the window of the first block any venue trades in. Nothing older has
fills, so no window ever has to be inserted before another (docs/dagster.md, "Windows in
ascending order")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from polygon_pipeline.settings import Settings

_DIGITS = 10
# The dynamic partitions' name: what a deployment's registered windows are stored under.
WINDOWS_NAME = "block_windows"


class DynamicPartitions(Protocol):
    """What registering needs of a Dagster instance."""

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]: ...

    def add_dynamic_partitions(
        self, partitions_def_name: str, partition_keys: Sequence[str]
    ) -> None: ...

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None: ...


def window_key(start: int, size: int) -> str:
    """The key of the window of `size` blocks that starts at `start`."""
    return f"{start:0{_DIGITS}d}-{start + size - 1:0{_DIGITS}d}"


def window_of(block: int, size: int) -> int:
    """The first block of the window holding `block`."""
    return block - block % size


def window_origin(settings: Settings) -> int:
    """Where the registered windows begin: the window of the first block any exchange trades
    in (the registry's, or POLYGON_VENUE_BLOCKS'); nothing before it has fills. The ledgers
    are older (ConditionalTokens from 2020's AMM era) and do not move it: their transfers
    before it are a leader history's (docs/positions.md)."""
    first = min(v.first_block for v in settings.venues if v.events == "fills")
    return window_of(first, settings.partition_window_blocks)


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


def register_through(
    instance: DynamicPartitions, origin: int, size: int, last: int
) -> Registration:
    """Append every whole window after the newest registered one (from `origin` when none is)
    up to block `last`, in one call: the list only ever grows at its end, ascending, so a
    range of keys in the UI is a range of blocks. Malformed keys found (typed in the UI) are
    deleted."""
    existing, dropped = split_keys(instance.get_dynamic_partitions(WINDOWS_NAME))
    for key in dropped:
        instance.delete_dynamic_partition(WINDOWS_NAME, key)
    newest = max(existing, key=lambda k: existing[k][1], default=None)
    start = existing[newest][1] + 1 if newest else origin
    added = windows_between(start, last, size)
    if added:
        instance.add_dynamic_partitions(WINDOWS_NAME, added)
    return Registration(added, added[-1] if added else newest, dropped)
