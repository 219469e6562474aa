"""Partitions of the reconciled fills: block windows (dynamic), each covering every exchange.

Window keys are zero-padded and sortable, `0080000000-0080009999`. The default window of
10,000 blocks (about 5.5 hours of Polygon) makes a year about 1,600 windows. A window's run
queries all exchanges and venues in one filter, so an exchange dimension would only double
the runs and the calls.

Dynamic partition keys keep the order they were added in, and the UI's range selection
follows that order: windows are therefore always registered in ascending block order
(`register_windows`), older ones included.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import DagsterInstance, DynamicPartitionsDefinition

from polygon_pipeline.settings import load_settings

_DIGITS = 10

window_partitions = DynamicPartitionsDefinition(name="block_windows")


def window_blocks() -> int:
    """Blocks per window: POLYGON_PARTITION_WINDOW_BLOCKS. Changing it later leaves windows
    already registered as they are."""
    return load_settings().partition_window_blocks


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


def windows_between(first: int, last: int, size: int) -> list[str]:
    """Keys of the whole windows from the one holding `first` to the last ending by `last`."""
    start, keys = window_of(first, size), []
    while start + size - 1 <= last:
        keys.append(window_key(start, size))
        start += size
    return keys


def register_windows(instance: DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Add window keys so that the registered list stays in ascending block order: new keys
    after the last one are appended; an older key makes the whole list be registered again,
    sorted (materializations are kept: they are stored per key). Returns the keys added."""
    for key in keys:
        parse_window(key)
    name = window_partitions.name
    existing = list(instance.get_dynamic_partitions(name))
    new = sorted(set(keys) - set(existing))
    if not new:
        return []
    if existing and new[0] < existing[-1]:
        for key in existing:
            instance.delete_dynamic_partition(name, key)
        instance.add_dynamic_partitions(name, sorted(set(existing) | set(new)))
    else:
        instance.add_dynamic_partitions(name, new)
    return new
