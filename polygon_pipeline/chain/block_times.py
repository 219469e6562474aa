"""Block timestamps without a getBlock storm: taken from the log when the node includes
`blockTimestamp`, otherwise one header fetch per distinct block, cached for the process."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterable

from polygon_pipeline.chain.fills import Fill
from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.provider_errors import ForeignAnswer

DEFAULT_CACHE_BLOCKS = 50_000


class BlockTimestamps:
    """A bounded LRU of block hash -> timestamp, shared by everything in the process.

    Keyed by hash, not number, so a reorg can never give a fill another block's time."""

    def __init__(self, maxsize: int = DEFAULT_CACHE_BLOCKS):
        self.maxsize = maxsize
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, block_hash: str, timestamp: int) -> None:
        with self._lock:
            self._cache[block_hash] = timestamp
            self._cache.move_to_end(block_hash)
            while len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)

    def _known(self, block_hash: str) -> int | None:
        with self._lock:
            found = self._cache.get(block_hash)
            if found is not None:
                self._cache.move_to_end(block_hash)
            return found

    def fill_in(self, rpc: GovernedRpc, fills: Iterable[Fill]) -> list[Fill]:
        """Return the fills with `block_timestamp` set, fetching each missing block once."""
        fills = list(fills)
        for fill in fills:
            if fill.block_timestamp is not None:
                self.remember(fill.block_hash, fill.block_timestamp)
        done = []
        for fill in fills:
            if fill.block_timestamp is None:
                ts = self._known(fill.block_hash)
                if ts is None:
                    header = rpc.get_block_by_hash(fill.block_hash)
                    if header is None or header.number != fill.block_number:
                        raise ForeignAnswer(
                            f"a log of block {fill.block_number} names block hash "
                            f"{fill.block_hash}, which the node does not know at that number"
                        )
                    ts = header.timestamp
                    self.remember(fill.block_hash, ts)
                fill = dataclasses.replace(fill, block_timestamp=ts)
            done.append(fill)
        return done


PROCESS_BLOCK_TIMES = BlockTimestamps()
