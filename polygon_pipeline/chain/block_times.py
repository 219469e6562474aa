"""Block timestamps without a getBlock storm: taken from the log when the node includes
`blockTimestamp`, otherwise one header fetch per distinct block, cached for the process.

A header fetched by hash is also the proof that the log's block exists at its number: a
backfill asks for it for every block holding a fill (`verify`), so a fabricated log alone
in its block, with a made-up hash and a timestamp of its own, is refused before it is
written (docs/providers.md, "A fabricated log alone in its block")."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterable

from polygon_pipeline.chain.leader_logs import LeaderLog
from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.provider_errors import ForeignAnswer

DEFAULT_CACHE_BLOCKS = 50_000


class BlockTimestamps:
    """A bounded LRU of block hash -> (timestamp, vouched for by a header), shared by
    everything in the process.

    Keyed by hash, not number, so a reorg can never give a fill another block's time."""

    def __init__(self, maxsize: int = DEFAULT_CACHE_BLOCKS):
        self.maxsize = maxsize
        self._cache: OrderedDict[str, tuple[int, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, block_hash: str, timestamp: int, verified: bool = False) -> None:
        """Cache a block's time; `verified`: it comes from a header of the node (a time
        from a log is not, and never demotes one that is)."""
        with self._lock:
            _, known = self._cache.get(block_hash, (timestamp, False))
            self._cache[block_hash] = (timestamp, verified or known)
            self._cache.move_to_end(block_hash)
            while len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)

    def _known(self, block_hash: str, verified: bool) -> int | None:
        with self._lock:
            found = self._cache.get(block_hash)
            if found is None or (verified and not found[1]):
                return None
            self._cache.move_to_end(block_hash)
            return found[0]

    def fill_in(
        self, rpc: GovernedRpc, fills: Iterable[LeaderLog], verify: bool = False
    ) -> list[LeaderLog]:
        """The fills (and position transfers) with `block_timestamp` set, each missing block
        fetched once.

        `verify`: every fill's block is checked against the node's header, not only those
        lacking a time (one call per distinct block not yet vouched for); a log whose block
        hash the node does not know at its number, or whose time differs from the header's,
        is ForeignAnswer."""
        fills = list(fills)
        for fill in fills:
            if fill.block_timestamp is not None:
                self.remember(fill.block_hash, fill.block_timestamp)
        done = []
        for fill in fills:
            if verify or fill.block_timestamp is None:
                ts = self._header_time(rpc, fill, verify)
                if fill.block_timestamp not in (None, ts):
                    raise ForeignAnswer(
                        f"a log of block {fill.block_number} says blockTimestamp "
                        f"{fill.block_timestamp}, its header {ts}"
                    )
                fill = dataclasses.replace(fill, block_timestamp=ts)
            done.append(fill)
        return done

    def _header_time(self, rpc: GovernedRpc, fill: LeaderLog, verified: bool) -> int:
        """The time of the fill's block: cached (only if a header vouched for it, when
        `verified`), else from its header, fetched by hash (a block reorged out since the
        log was read is still known by hash, so no race with the head is taken for a lie)."""
        ts = self._known(fill.block_hash, verified)
        if ts is not None:
            return ts
        header = rpc.get_block_by_hash(fill.block_hash)
        if header is None or header.number != fill.block_number:
            raise ForeignAnswer(
                f"a log of block {fill.block_number} names block hash "
                f"{fill.block_hash}, which the node does not know at that number"
            )
        self.remember(fill.block_hash, header.timestamp, verified=True)
        return header.timestamp


PROCESS_BLOCK_TIMES = BlockTimestamps()
