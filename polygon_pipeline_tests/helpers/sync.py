"""Building a real SyncContext (settings from the environment) against the test devnet."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from polygon_pipeline.chain.exchanges import Venue, parse_venue_blocks, with_blocks
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.schema import fills


def leader_fills(truth: list[dict], leaders: set[str]) -> set[tuple[str, int]]:
    """The ground truth's answer: every log with a leader on either side."""
    return {
        (r["tx_hash"], r["log_index"])
        for r in truth
        if r["maker"] in leaders or r["taker"] in leaders
    }


def environment(devnet, db_url: str, **overrides) -> dict[str, str]:
    """The devnet's pipeline environment with test defaults: a generous shared budget."""
    return devnet.pipeline_env(
        db_url, **{"rpc_max_rps": 200, "rpc_max_concurrency": 4, **overrides}
    )


def configured_venues(devnet) -> tuple[Venue, ...]:
    """The venue registry as the devnet's pipeline environment configures it."""
    return with_blocks(parse_venue_blocks(devnet.env["POLYGON_VENUE_BLOCKS"]))


# For tests of a process's behaviour (a command's output, a watcher's reconnects, a Dagster
# sensor) whose reads and writes other tests cover on both backends: SQLite only, so the
# default run stays within its time budget.
one_store = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def mine_sparse(devnet, pairs: int) -> tuple[int, int]:
    """Blocks with fills and empty blocks by turns, then enough to make them final; their
    first and last block. Every few blocks hold one without a leader fill, where the
    emulator's lone-log fault puts its fabricated log."""
    start = devnet.head() + 1
    for _ in range(pairs):
        devnet.mine(blocks=1, fills_per_block=10)
        devnet.mine(blocks=1, fills_per_block=0)
    end = devnet.head()
    devnet.mine(blocks=FINALITY_DEPTH + 1, fills_per_block=0)
    return start, end


def mine_final(devnet, blocks: int, per_block: int = 10) -> tuple[int, int]:
    """`blocks` blocks of `per_block` fills each, buried below the finalized head; their
    first and last block."""
    start = devnet.head() + 1
    end = devnet.mine(blocks=blocks, fills_per_block=per_block)["head"]
    devnet.mine(blocks=FINALITY_DEPTH)
    return start, end


def stored_fills(ctx) -> set[tuple[str, int]]:
    """Every fill in the context's store by (tx_hash, log_index), none stored twice."""
    with ctx.engine.connect() as conn:
        rows = fetch_fills(conn)
        assert conn.execute(select(func.count()).select_from(fills)).scalar_one() == len(rows)
    return {(r["tx_hash"], r["log_index"]) for r in rows}
