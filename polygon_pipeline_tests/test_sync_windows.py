"""sync/windows.py and sync/checks.py against the devnet and both databases: a run over
block windows reconciles them merged, attributes each window its own figures, leaves late
windows for later and, retried, skips what is stored; the checks' figures see holes and the
watcher's heartbeat."""

from __future__ import annotations

import math

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.heartbeats_repo import beat
from polygon_pipeline.sync.checks import coverage_holes, watcher_health
from polygon_pipeline.sync.watcher_status import WATCHER_ROLE
from polygon_pipeline.sync.windows import RunTotals, run_windows
from polygon_pipeline_tests.helpers.sync import leader_fills, one_store

WINDOW = 20
RANGE = 15  # the provider-facing range, so that windows merged cost fewer chunks


def _windows(devnet, count: int) -> dict[str, tuple[int, int]]:
    """`count` adjacent windows of trades mined below the finalized head."""
    lo = devnet.head() + 1
    devnet.mine(blocks=count * WINDOW, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    return {f"w{i}": (lo + i * WINDOW, lo + (i + 1) * WINDOW - 1) for i in range(count)}


def _stored(ctx) -> set[tuple[str, int]]:
    with ctx.engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}


def test_windows_are_reconciled_merged_each_with_its_own_figures(devnet, make_ctx, leaders):
    windows = _windows(devnet, 3)
    ctx = make_ctx(leaders, backfill_max_range=RANGE)
    run = run_windows(ctx, windows)
    lo, hi = windows["w0"][0], windows["w2"][1]
    assert not run.late and sorted(run.figures) == sorted(
        (x, w) for x in EXCHANGES for w in windows
    )
    assert [(r.from_block, r.to_block) for r in run.reports] == [(lo, hi)]  # one range
    for (exchange, key), figures in run.figures.items():
        w_lo, w_hi = windows[key]
        truth = [r for r in devnet.truth(w_lo, w_hi) if r["exchange"] == exchange]
        own = leader_fills(truth, set(leaders))
        assert figures.block_range == f"{w_lo}..{w_hi}" and figures.reconciled
        assert figures.fills_found == figures.fills_written == len(own)
        assert figures.fills_retracted == 0
    assert all(run.figures[("ctf", key)].fills_found for key in windows)
    assert _stored(ctx) == leader_fills(devnet.truth(lo, hi), set(leaders))
    totals = run.totals
    assert totals.fills_found == sum(f.fills_found for f in run.figures.values())
    assert totals.block_ranges == f"{lo}..{hi}"
    assert totals.getlogs_calls == devnet.stats()["calls"]["eth_getLogs"]
    assert totals.getlogs_calls == math.ceil((hi - lo + 1) / RANGE) * 2  # maker + taker


def test_a_retry_skips_what_an_earlier_attempt_stored(devnet, make_ctx, leaders):
    windows = _windows(devnet, 2)
    ctx = make_ctx(leaders, backfill_max_range=RANGE)
    run_windows(ctx, {"w0": windows["w0"]})  # an attempt that stored one window
    devnet.reset_stats()
    retry = run_windows(ctx, windows, skip_covered=True)
    first, second = retry.figures[("ctf", "w0")], retry.figures[("ctf", "w1")]
    assert not first.reconciled and second.reconciled
    assert first.fills_written == 0 < first.fills_found
    assert [(r.from_block, r.to_block) for r in retry.reports] == [windows["w1"]]
    assert devnet.stats()["calls"]["eth_getLogs"] == math.ceil(WINDOW / RANGE) * 2
    devnet.reset_stats()
    nothing = run_windows(ctx, windows, skip_covered=True)  # every window stored already
    assert nothing.reports == [] and not any(f.reconciled for f in nothing.figures.values())
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0
    assert nothing.totals == RunTotals("-", *([0] * 6), "-", 0.0)
    assert isinstance(nothing.totals.seconds, float)  # Dagster's float metadata takes no int


@one_store
def test_windows_past_the_finalized_head_are_left_for_later(devnet, make_ctx, leaders):
    windows = _windows(devnet, 1)
    head = devnet.head()
    late = {"late": (head - FINALITY + 1, head - FINALITY + WINDOW)}
    ctx = make_ctx(leaders)
    alone = run_windows(ctx, late)
    assert alone.late == ["late"] and not alone.figures and not alone.reports
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0
    both = run_windows(ctx, {**windows, **late})
    assert both.late == ["late"] and {key for _, key in both.figures} == {"w0"}
    assert both.finalized < late["late"][1]


def test_one_exchange_is_queried_and_covered_alone(devnet, make_ctx, leaders):
    """negrisk's windows: its fills only, coverage recorded for its venues only, and the
    calls of all exchanges together (one filter either way)."""
    windows = _windows(devnet, 2)
    lo, hi = windows["w0"][0], windows["w1"][1]
    ctx = make_ctx(leaders, backfill_max_range=RANGE)
    devnet.reset_stats()
    run = run_windows(ctx, windows, dict.fromkeys(windows, ["negrisk"]))
    assert sorted(run.figures) == [("negrisk", "w0"), ("negrisk", "w1")]
    truth = [r for r in devnet.truth(lo, hi) if r["exchange"] == "negrisk"]
    assert _stored(ctx) == leader_fills(truth, set(leaders)) != set()
    assert devnet.stats()["calls"]["eth_getLogs"] == math.ceil((hi - lo + 1) / RANGE) * 2
    found = coverage_holes(ctx.engine, ctx.settings.venues, [(lo, hi)], None)
    assert found.gaps["negrisk"] == [] and found.gaps["ctf"] == found.gaps["v3"] == [(lo, hi)]


def test_coverage_holes_and_watcher_health(devnet, make_ctx, leaders):
    windows = _windows(devnet, 2)
    ctx = make_ctx(leaders)
    run_windows(ctx, {"w1": windows["w1"]})  # the older window never reconciled
    run_scope = coverage_holes(
        ctx.engine, ctx.settings.venues, [(windows["w0"][0], windows["w1"][1])], None
    )
    assert all(found == [windows["w0"]] for found in run_scope.gaps.values())
    assert run_scope.blocks_missing == len(run_scope.gaps) * WINDOW
    span = (windows["w0"][0], windows["w0"][0])  # what was materialized: up to the cursors
    to_cursor = coverage_holes(ctx.engine, ctx.settings.venues, None, span)
    assert to_cursor.blocks_missing == run_scope.blocks_missing
    assert set(to_cursor.cursors.values()) == {windows["w1"][1]}
    assert (
        coverage_holes(ctx.engine, ctx.settings.venues, [windows["w1"]], None).blocks_missing == 0
    )
    never = watcher_health(ctx.engine, max_age_s=60)
    assert not never.healthy and never.age_s is None
    with ctx.engine.begin() as conn:
        beat(conn, WATCHER_ROLE, "test:1", {"healthy": True, "connected": True})
    assert watcher_health(ctx.engine, max_age_s=60).healthy
    assert not watcher_health(ctx.engine, max_age_s=-1).healthy  # too old
