"""reconcile() against the devnet and both databases: exactly the ground truth, per exchange
and never per leader, through a hostile provider."""

from __future__ import annotations

import math

import pytest

from polygon_pipeline.chain.block_times import BlockTimestamps
from polygon_pipeline.chain.exchanges import EXCHANGES, VENUES
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.sync.reconcile import NothingToFollow, reconcile
from polygon_pipeline_tests.helpers.sync import leader_fills, mine_final, one_store, stored_fills

ALL = list(EXCHANGES)  # every exchange family, as the CLI's `--exchange all`


@pytest.mark.parametrize(("range_cap", "provider_rps"), [(10, 5), (2000, 2)])
def test_exact_ground_truth_through_a_hostile_provider(
    devnet, make_ctx, leaders, range_cap, provider_rps
):
    start, end = mine_final(devnet, 60)
    devnet.configure(
        getlogs_max_range=range_cap,
        max_rps=provider_rps,
        fault_5xx_rate=0.05,
        truncate_rate=0.05,
        malformed_rate=0.05,
    )
    # the client is told a higher rate than the provider allows, so it meets 429s
    ctx = make_ctx(leaders, rpc_max_rps=20, backfill_max_range=500)
    report = reconcile(ctx, ALL, start, end)
    truth = leader_fills(devnet.truth(start, end), set(leaders))
    assert stored_fills(ctx) == truth
    assert report.fills_found == len(truth) > 0
    stats = devnet.stats()
    assert stats["throttled_total"] > 0 and sum(stats["faults"].values()) > 0  # it was hostile
    with ctx.engine.connect() as conn:
        assert get_cursor(conn, "ctf") == get_cursor(conn, "negrisk") == end
    again = reconcile(ctx, ALL, start, end)  # idempotent rerun
    assert again.fills_written == 0 and stored_fills(ctx) == truth


def test_calls_grow_with_leader_batches_not_leaders(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 40, per_block=4)
    ctx = make_ctx(leaders, backfill_max_range=10, leader_batch_size=3)
    reconcile(ctx, ALL, start, end)
    chunks = math.ceil((end - start + 1) / 10)
    batches = math.ceil(len(leaders) / 3)
    calls = devnet.stats()["calls"]["eth_getLogs"]
    assert calls == chunks * 2 * batches  # maker + taker query per chunk per batch
    devnet.reset_stats()
    wide = make_ctx(leaders, backfill_max_range=10, leader_batch_size=100)
    reconcile(wide, ALL, start, end)
    assert devnet.stats()["calls"]["eth_getLogs"] == chunks * 2  # 8 leaders, one batch


@one_store
def test_single_exchange_and_single_leader(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 30)
    ctx = make_ctx(leaders[:1])
    reconcile(ctx, ["negrisk"], start, end)
    truth = [r for r in devnet.truth(start, end) if r["exchange"] == "negrisk"]
    assert stored_fills(ctx) == leader_fills(truth, {leaders[0]})
    with ctx.engine.connect() as conn:
        assert get_cursor(conn, "ctf") is None


@one_store
def test_range_shrinks_to_the_suggestion_and_rarely_reprobes(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 200, per_block=2)
    devnet.configure(getlogs_max_range=10)
    ctx = make_ctx(leaders, backfill_max_range=500)
    report = reconcile(ctx, ALL, start, end)
    assert set(report.range_sizes) <= {10, 20} and max(report.range_sizes) == 10
    assert devnet.stats()["range_errors"] <= 2
    devnet.configure(getlogs_max_range=None, getlogs_max_results=15)
    devnet.reset_stats()
    wide = make_ctx(leaders, backfill_max_range=500)
    reconcile(wide, ALL, start, end)
    assert stored_fills(wide) == leader_fills(devnet.truth(start, end), set(leaders))
    assert devnet.stats()["result_cap_errors"] > 0


@one_store
def test_block_timestamps_fetched_once_per_block_when_logs_lack_them(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 12, per_block=12)
    devnet.configure(strip_block_timestamp=True)
    ctx = make_ctx(leaders)
    ctx.block_times = BlockTimestamps()
    reconcile(ctx, ALL, start, end)
    truth = {(r["tx_hash"], r["log_index"]): r for r in devnet.truth(start, end)}
    with ctx.engine.connect() as conn:
        rows = fetch_fills(conn)
    assert rows and all(
        r["block_timestamp"].timestamp() == truth[(r["tx_hash"], r["log_index"])]["block_timestamp"]
        for r in rows
    )
    assert devnet.stats()["calls"]["eth_getBlockByHash"] == len({r["block_hash"] for r in rows})


def test_stops_at_the_finalized_head_and_follows_the_cursor(devnet, make_ctx, leaders):
    devnet.mine(blocks=5, fills_per_block=6)
    ctx = make_ctx(leaders, backfill_safety_overlap=3, backfill_startup_blocks=20)
    head = devnet.head()
    first = reconcile(ctx, ALL)
    assert first.to_block == head - FINALITY
    assert first.from_block == head - FINALITY - 20 + 1  # no cursor yet: the startup window
    devnet.mine(blocks=10, fills_per_block=6)
    second = reconcile(ctx, ALL)
    assert second.from_block == first.to_block - 3
    assert second.to_block == first.to_block + 10
    covered = devnet.truth(first.from_block, second.to_block)
    assert stored_fills(ctx) == leader_fills(covered, set(leaders))


def test_reorged_fills_are_retracted(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 10, per_block=10)
    ctx = make_ctx(leaders)
    reconcile(ctx, ALL, start, end)
    before = stored_fills(ctx)
    devnet.reorg(FINALITY + 4)  # deeper than finality: the safety net must still hold
    devnet.mine(blocks=FINALITY)
    report = reconcile(ctx, ALL, start, end)
    after = leader_fills(devnet.truth(start, end), set(leaders))
    assert stored_fills(ctx) == after
    assert report.retracted == len(before - after) > 0


@one_store
def test_no_leaders_is_a_clear_error(devnet, make_ctx):
    ctx = make_ctx([])
    with pytest.raises(NothingToFollow, match="no leaders"):
        reconcile(ctx, ["ctf"], 0, 10)


@one_store
def test_blocks_where_no_venue_trades_cost_no_call(devnet, make_ctx, leaders):
    """A range before every venue's first block (as history before Polymarket deployed) is
    recorded as covered without asking the provider anything; a range that reaches a venue's
    first block is queried as usual."""
    start, end = mine_final(devnet, 20, per_block=6)
    first = end - 4  # pretend every venue was deployed here
    blocks = ",".join(f"{venue}={first}.." for venue in VENUES)
    ctx = make_ctx(leaders, venue_blocks=blocks, backfill_max_range=5)
    devnet.reset_stats()
    quiet = reconcile(ctx, ALL, start, first - 1)
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0
    assert quiet.blocks_done == quiet.blocks_without_venues == first - start
    assert quiet.fills_found == 0 and "where no venue trades" in quiet.summary()
    with ctx.engine.connect() as conn:
        assert get_cursor(conn, "ctf") == first - 1  # covered: nothing can be there
    reconcile(ctx, ALL, first, end)
    assert devnet.stats()["calls"]["eth_getLogs"] == 2  # one 5-block chunk: maker + taker
    assert stored_fills(ctx) == leader_fills(devnet.truth(first, end), set(leaders))


def test_an_older_range_leaves_no_hole_behind_the_cursor(devnet, make_ctx, leaders):
    """On an empty store, blocks 200..384 of a range and then 0..100: the cursor stops at
    the hole (101..199) instead of staying past it, and the next catch-up reads the hole
    (and the safety overlap), not the blocks already reconciled above it."""
    start, end = mine_final(devnet, 400, per_block=2)
    devnet.configure(getlogs_max_range=10)
    ctx = make_ctx(leaders, backfill_max_range=10, backfill_safety_overlap=20)
    reconcile(ctx, ALL, start + 200, start + 384)
    reconcile(ctx, ALL, start, start + 100)
    with ctx.engine.connect() as conn:
        assert {e: get_cursor(conn, e) for e in ALL} == dict.fromkeys(ALL, start + 100)
    devnet.reset_stats()
    report = reconcile(ctx, ALL)  # `backfill --since-cursor`
    scanned = (start + 80, start + 199), (start + 385, end)  # overlap + hole, then the rest
    assert (report.from_block, report.blocks_total) == (start + 80, 120 + end - start - 384)
    assert stored_fills(ctx) >= leader_fills(devnet.truth(start, end), set(leaders))
    chunks = sum(math.ceil((hi - lo + 1) / 10) for lo, hi in scanned)
    assert devnet.stats()["calls"]["eth_getLogs"] == chunks * 2
    with ctx.engine.connect() as conn:
        assert get_cursor(conn, "ctf") >= end
