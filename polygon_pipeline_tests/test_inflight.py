"""reconcile with requests in flight, against the devnet and both databases: as many in
flight as POLYGON_RPC_MAX_CONCURRENCY allows, and every guarantee of one-at-a-time kept
(exact rows, a cursor that never passes a hole, range refusals and throttles mid-flight)."""

from __future__ import annotations

import math

from polygon_pipeline.chain.exchanges import EXCHANGES as ALL_EXCHANGES
from polygon_pipeline.store.coverage_repo import gaps
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline_tests.helpers.sync import leader_fills, mine_final, one_store, stored_fills

EXCHANGES = list(ALL_EXCHANGES)


def _cursors(ctx) -> set[int | None]:
    with ctx.engine.connect() as conn:
        return {get_cursor(conn, e) for e in EXCHANGES}


def _holes(ctx, lo: int, hi: int) -> list[tuple[int, int]]:
    with ctx.engine.connect() as conn:
        return [hole for e in EXCHANGES for hole in gaps(conn, e, ctx.settings.venues, lo, hi)]


@one_store
def test_as_many_in_flight_as_the_concurrency_allows(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 120, per_block=4)
    devnet.configure(latency_ms=150)
    devnet.reset_stats()
    ctx = make_ctx(leaders, backfill_max_range=10, rpc_max_concurrency=3)
    report = reconcile(ctx, EXCHANGES, start, end)
    stats = devnet.stats()
    assert stats["peak_in_flight"] == 3
    assert stats["calls"]["eth_getLogs"] == math.ceil((end - start + 1) / 10) * 2
    assert stored_fills(ctx) == leader_fills(devnet.truth(start, end), set(leaders))
    assert report.blocks_done == end - start + 1 and _cursors(ctx) == {end}


def test_a_range_refusal_in_flight_replans_and_skips_nothing(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 200, per_block=3)
    devnet.configure(latency_ms=40, getlogs_max_range=20)
    ctx = make_ctx(leaders, backfill_max_range=20, rpc_max_concurrency=4)
    narrowed = []

    def narrow_after_the_first_chunk(report) -> None:  # other chunks are in flight now
        if not narrowed:
            narrowed.append(devnet.configure(getlogs_max_range=5))

    report = reconcile(ctx, EXCHANGES, start, end, on_progress=narrow_after_the_first_chunk)
    stats = devnet.stats()
    assert 1 <= stats["range_errors"] <= 4  # only what was in flight at 20 blocks was refused
    assert 20 in report.range_sizes and max(report.range_sizes[-5:]) <= 5
    assert report.blocks_done == end - start + 1
    assert _holes(ctx, start, end) == [] and _cursors(ctx) == {end}
    assert stored_fills(ctx) == leader_fills(devnet.truth(start, end), set(leaders))


def test_a_throttle_in_flight_pauses_everyone_without_a_storm(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 100, per_block=3)
    devnet.configure(latency_ms=40, max_rps=8)  # the client believes it may send 200/s
    ctx = make_ctx(leaders, backfill_max_range=10, rpc_max_concurrency=4)
    reconcile(ctx, EXCHANGES, start, end)
    stats = devnet.stats()
    assert stats["throttled_total"] > 0
    # Each 429 pauses every thread until its Retry-After: per pause, at most the requests
    # already in flight are refused, so refusals stay below what is served.
    assert stats["throttled_total"] <= stats["served_total"] // 2 + 4
    assert stored_fills(ctx) == leader_fills(devnet.truth(start, end), set(leaders))
    assert _cursors(ctx) == {end}


def test_the_cursor_never_passes_a_hole_and_catches_up_when_it_closes(devnet, make_ctx, leaders):
    start, end = mine_final(devnet, 60, per_block=3)
    ctx = make_ctx(leaders, backfill_max_range=10)
    reconcile(ctx, EXCHANGES, start, start + 9)
    assert _cursors(ctx) == {start + 9}
    reconcile(ctx, EXCHANGES, start + 30, end)  # leaves start+10 .. start+29 uncovered
    assert _cursors(ctx) == {start + 9}
    reconcile(ctx, EXCHANGES, start + 20, start + 29)  # still a hole below it
    assert _cursors(ctx) == {start + 9}
    reconcile(ctx, EXCHANGES, start + 10, start + 19)  # the hole closes
    assert _cursors(ctx) == {end}
    assert stored_fills(ctx) == leader_fills(devnet.truth(start, end), set(leaders))


@one_store
def test_following_makers_only_halves_the_calls_and_finds_every_leader_order(
    devnet, make_ctx, leaders
):
    start, end = mine_final(devnet, 40, per_block=6)
    ctx = make_ctx(leaders, backfill_max_range=10, follow_roles="maker")
    reconcile(ctx, EXCHANGES, start, end)
    chunks = math.ceil((end - start + 1) / 10)
    assert devnet.stats()["calls"]["eth_getLogs"] == chunks
    truth = devnet.truth(start, end)
    orders = {(r["tx_hash"], r["log_index"]) for r in truth if r["maker"] in set(leaders)}
    assert orders and stored_fills(ctx) == orders
