"""Where a catch-up begins when nobody names a block: one rule for `reconcile()` (the CLI's
`--since-cursor`, Dagster's mini-reconciliation) and the watcher (startup, takeover, after a
drop), so no caller can start later than the cursor and leave a hole. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence


def start_block(cursors: Sequence[int | None], head: int, fresh_blocks: int, overlap: int) -> int:
    """The lowest exchange cursor less `overlap` (re-read in case a reorg moved fills near
    it), however far back that is: the catch-up's length is bounded by the shared RPC
    budget, never by a block count. An exchange with no cursor yet (nothing reconciled)
    starts `fresh_blocks` below `head`, the last block it will read. Never below block 0."""
    if not cursors:
        raise ValueError("start_block needs at least one exchange's cursor (or None)")
    return min(
        max(0, head - fresh_blocks + 1) if cursor is None else max(0, cursor - overlap)
        for cursor in cursors
    )
