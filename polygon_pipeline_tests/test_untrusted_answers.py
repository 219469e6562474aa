"""A provider's answer is checked against its request: logs the filter excludes, logs past
toBlock, removed logs and fabricated logs are a provider error (retried, then raised), never
written, in backfills (the CLI's and Dagster's) and leader histories. The watcher's side is
in test_watcher.py; a Dagster window run's, for the lone fabricated log, in
test_dagster_layer.py."""

from __future__ import annotations

import pytest

from polygon_pipeline.chain.block_times import BlockTimestamps
from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.devnet.emulator.policy import FABRICATED_BLOCK_HASH, Policy
from polygon_pipeline.provider_errors import ForeignAnswer
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.store.transfers_repo import transfer_versions
from polygon_pipeline.sync.history import backfill_history
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline_tests.helpers.sync import leader_fills, mine_sparse, one_store

ALL = list(EXCHANGES)
GETLOGS_FAULTS = [
    {"ignore_topic_filter": True},
    {"logs_past_to_block": 5},
    {"removed_in_getlogs": True},
    {"fabricate_logs": True},
]


def _mine_range(devnet, blocks: int, per_block: int = 10) -> tuple[int, int]:
    start = devnet.head() + 1
    end = devnet.mine(blocks=blocks, fills_per_block=per_block)["head"]
    devnet.mine(blocks=FINALITY + 6, fills_per_block=per_block)  # logs past `end` to leak
    return start, end


def _keys(ctx) -> set[tuple[str, int]]:
    with ctx.engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}


@one_store
@pytest.mark.parametrize("fault", GETLOGS_FAULTS, ids=lambda f: next(iter(f)))
def test_a_backfill_writes_nothing_of_an_untrusted_answer(devnet, make_ctx, leaders, fault):
    start, end = _mine_range(devnet, 8)
    ctx = make_ctx(leaders, backfill_max_range=4)
    devnet.configure(**fault)
    with pytest.raises(ForeignAnswer, match="the answer holds a log the request excludes"):
        reconcile(ctx, ALL, start, end)
    assert _keys(ctx) == set()
    with ctx.engine.connect() as conn:
        assert all(get_cursor(conn, e) is None for e in ALL)  # no coverage, no cursor
    devnet.configure(**{k: Policy().as_dict()[k] for k in fault})
    reconcile(ctx, ALL, start, end)
    assert _keys(ctx) == leader_fills(devnet.truth(start, end), set(leaders))


@one_store
def test_a_leader_history_writes_nothing_of_an_untrusted_answer(devnet, make_ctx, leaders):
    start, end = _mine_range(devnet, 8)
    ctx = make_ctx(leaders[:1])
    with ctx.engine.begin() as conn:
        add_leaders(conn, leaders[1:2], history_from_block=start)
    reconcile(ctx, ALL, end, end)  # where the history stops
    before = _keys(ctx)
    devnet.configure(ignore_topic_filter=True)
    with pytest.raises(ForeignAnswer):
        backfill_history(ctx)
    assert _keys(ctx) == before


def _block_hashes(ctx) -> set[str]:
    with ctx.engine.connect() as conn:
        return {r["block_hash"] for r in fetch_fills(conn)}


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_lone_fabricated_log_with_its_own_timestamp_is_never_written(devnet, make_ctx, leaders):
    """A made-up log alone in its block, carrying a blockTimestamp: no second hash for its
    block gives it away in the answer, its header does (the node knows no such block)."""
    start, end = mine_sparse(devnet, 4)
    ctx = make_ctx(leaders, backfill_max_range=4)
    ctx.block_times = BlockTimestamps()  # no header vouched for by an earlier test
    devnet.configure(fabricate_lone_logs=1_000)
    with pytest.raises(ForeignAnswer, match="which the node does not know at that number"):
        reconcile(ctx, ALL, start, end)
    assert devnet.stats()["untrusted"]["fabricate_lone_logs"] > 0
    # Only genuine fills, each in its own block, may be stored: a chunk whose answer had no
    # block free for the fault (every block with a leader log, as when the devnet's clock
    # mined between the sparse blocks, once in CI) was clean and may have been written.
    truth = {(r["tx_hash"], r["log_index"]): r["block_number"] for r in devnet.truth(start, end)}
    with ctx.engine.connect() as conn:
        stored = {(r["tx_hash"], r["log_index"]): r["block_number"] for r in fetch_fills(conn)}
    assert stored.items() <= truth.items()
    devnet.configure(fabricate_lone_logs=0)
    reconcile(ctx, ALL, start, end)  # what is recorded as covered was stored: nothing missed
    assert _keys(ctx) == leader_fills(devnet.truth(start, end), set(leaders))


@one_store
def test_a_leader_history_writes_no_lone_fabricated_log(devnet, make_ctx, leaders):
    """The history is that of a leader who traded in the range: the fault copies a log of
    the answer, and an answer with none gains no fabricated log (on a devnet other tests had
    moved on, the second leader once had no fill there, and the history raised nothing)."""
    start, end = mine_sparse(devnet, 4)
    truth = devnet.truth(start, end)
    newcomer = next((x for x in leaders[1:] if leader_fills(truth, {x})), None)
    assert newcomer, f"no leader but the first traded in blocks {start}-{end}"
    ctx = make_ctx(leaders[:1])
    ctx.block_times = BlockTimestamps()
    with ctx.engine.begin() as conn:
        add_leaders(conn, [newcomer], history_from_block=start)
    reconcile(ctx, ALL, end, end)  # where the history stops
    before = _keys(ctx)
    devnet.configure(fabricate_lone_logs=1_000)
    with pytest.raises(ForeignAnswer, match="which the node does not know at that number"):
        backfill_history(ctx)
    assert devnet.stats()["untrusted"]["fabricate_lone_logs"] > 0
    assert _keys(ctx) == before and FABRICATED_BLOCK_HASH not in _block_hashes(ctx)


@one_store
@pytest.mark.parametrize("verify", [True, False])
def test_block_hashes_checked_once_per_block_holding_a_fill(devnet, make_ctx, leaders, verify):
    """What the check costs: one header per distinct block holding a fetched leader log (a
    fill, or a position transfer of the ledgers fetched with them), none when turned off
    (logs carry their timestamps here)."""
    start, end = mine_sparse(devnet, 4)
    ctx = make_ctx(leaders, verify_block_hashes=verify)
    ctx.block_times = BlockTimestamps()
    devnet.reset_stats()
    reconcile(ctx, ALL, start, end)
    blocks = _block_hashes(ctx)
    assert blocks and _keys(ctx) == leader_fills(devnet.truth(start, end), set(leaders))
    with ctx.engine.connect() as conn:
        blocks |= {hash_ for _, hash_ in transfer_versions(conn, start, end).values()}
    assert devnet.stats()["calls"].get("eth_getBlockByHash", 0) == (len(blocks) if verify else 0)
