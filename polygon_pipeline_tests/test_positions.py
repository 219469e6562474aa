"""Leader positions from the chain against the devnet's truth, on both databases: every
leader's balance of every position is exact at the end of a backfilled range, realized PnL
and average cost equal the truth's under the documented rules (docs/positions.md), through
both generations (the CLOB V2 cutover, with splits, merges and neg-risk conversions through
the adapters), and a leader added later with history gets the same positions as one
followed from the start."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.chain.transfers import NEG_RISK_COLLATERAL_ADAPTERS, NO_TOKEN_BURN_ADDRESS
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.devnet.handle import start_devnet
from polygon_pipeline.devnet.venue_plan import plan_layouts
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.store.transfers_repo import leader_transfers
from polygon_pipeline.sync.context import GammaContext, SyncContext
from polygon_pipeline.sync.history import backfill_history
from polygon_pipeline.sync.markets import sync_markets
from polygon_pipeline.sync.positions import all_positions
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline.sync.resolutions import fetch_resolutions

PAST_CUTOVER = plan_layouts()["v2"] + 30  # both generations traded, two markets resolved


@pytest.fixture(scope="module")
def devnet_session(tmp_path_factory):
    """Overrides the session's devnet for this module: a chain of its own, from genesis, so
    the history these tests compare to the unit (every leader's positions since block 0) is
    the same whichever files the worker ran before (under `--dist loadfile` the shared
    devnet holds their blocks, reorgs and resolutions too)."""
    handle = start_devnet(tmp_path_factory.mktemp("positions_devnet"))
    yield handle
    handle.stop()


def _positions(ctx: SyncContext) -> list:
    """What `positions` computes once the markets and their resolutions are known."""
    with GammaContext.from_settings(load_settings()) as gamma:
        sync_markets(gamma)
    fetch_resolutions(ctx)
    return all_positions(ctx.engine)


def _mine_past_cutover(devnet) -> int:
    blocks = max(30, PAST_CUTOVER - devnet.head())
    end = devnet.mine(blocks=blocks, fills_per_block=10)["head"]
    devnet.mine(blocks=FINALITY)
    return end


def _table(positions) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for p in positions:
        out.setdefault(p.leader, {})[str(p.token_id)] = {
            "size": p.size,
            "avg_price": p.cost.avg_price,
            "realized_pnl": p.cost.realized_pnl,
        }
    return out


def test_positions_equal_the_truth(devnet, make_ctx, leaders):
    end = _mine_past_cutover(devnet)
    ctx = make_ctx(leaders)
    report = reconcile(ctx, list(EXCHANGES), 0, end)
    assert report.transfers_found > 0
    positions = _positions(ctx)
    got, truth = _table(positions), devnet.positions(to_block=end)
    assert set(got) <= set(leaders)
    for leader in leaders:
        assert got.get(leader, {}) == truth[leader], leader
    kinds = {k for p in positions for k in p.kinds}
    assert {"split", "merge", "fill", "redemption", "conversion"} <= kinds
    with ctx.engine.connect() as conn:
        rows = leader_transfers(conn, leaders)
    txs_to = {r["tx_hash"] for r in rows if r["receiver"] in NEG_RISK_COLLATERAL_ADAPTERS}
    txs_from = {r["tx_hash"] for r in rows if r["sender"] in NEG_RISK_COLLATERAL_ADAPTERS}
    assert any(r["receiver"] == NO_TOKEN_BURN_ADDRESS for r in rows)  # on the NegRiskAdapter
    assert txs_to & txs_from  # and since the cutover through a neg-risk collateral adapter
    assert any(p.cost.realized_pnl for p in positions)


def test_positions_follow_a_reorg(devnet, make_ctx, leaders):
    end = _mine_past_cutover(devnet)
    ctx = make_ctx(leaders)
    reconcile(ctx, list(EXCHANGES), 0, end)
    devnet.reorg(FINALITY + 3)  # replaced blocks hold other trades, splits and merges
    end = devnet.mine(blocks=5, fills_per_block=10)["head"]
    devnet.mine(blocks=FINALITY)
    reconcile(ctx, list(EXCHANGES), 0, end)
    got, truth = _table(_positions(ctx)), devnet.positions(to_block=end)
    for leader in leaders:
        assert got.get(leader, {}) == truth[leader], leader


def test_a_leader_added_later_gets_the_same_positions(devnet, make_ctx, leaders):
    end = _mine_past_cutover(devnet)
    first, late = leaders[:4], leaders[4:]
    ctx = make_ctx(first, leader_history_blocks=0)
    reconcile(ctx, list(EXCHANGES), 0, end)
    with ctx.engine.begin() as conn:
        add_leaders(conn, late, history_from_block=0)
    backfill_history(ctx, late)
    got = _table(_positions(ctx))
    truth = devnet.positions(to_block=end)
    for leader in late:
        assert got.get(leader, {}) == truth[leader], leader


def test_dagster_assets_and_the_command_show_the_truth(devnet, make_ctx, leaders, db_url):
    """leader_positions, its check and leader_pnl as the definitions run them, and
    `positions --format csv` as a user runs it, against the same truth."""
    import csv
    import io
    import json
    from decimal import ROUND_DOWN

    from dagster import DagsterInstance, materialize

    from polygon_pipeline.defs.markets.assets import markets
    from polygon_pipeline.defs.positions.assets import (
        leader_pnl,
        leader_positions,
        no_negative_balances,
    )
    from polygon_pipeline.defs.resources import PipelineResource
    from polygon_pipeline.devnet.clob_api import midpoint
    from polygon_pipeline_tests.helpers.cli import run_cli
    from polygon_pipeline_tests.helpers.markets import expected_market
    from polygon_pipeline_tests.helpers.sync import environment

    end = _mine_past_cutover(devnet)
    ctx = make_ctx(leaders)
    reconcile(ctx, list(EXCHANGES), 0, end)
    truth = devnet.positions(to_block=end)
    realized = sum(p["realized_pnl"] for per in truth.values() for p in per.values())
    resources = {"pipeline": PipelineResource.from_settings(load_settings())}
    result = materialize(
        [markets, leader_positions, leader_pnl, no_negative_balances],
        instance=DagsterInstance.ephemeral(),
        resources=resources,
    )
    assert result.success
    shown = result.asset_materializations_for_node("leader_positions")[0].metadata
    assert shown["positions"].value == sum(len(per) for per in truth.values())
    assert shown["realized_pnl_usd"].value == realized / 1e6
    assert shown["conditions_resolved"].value >= 1 and shown["negative_balances"].value == 0
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    daily = result.asset_materializations_for_node("leader_pnl")[0].metadata
    assert round(daily["realized_pnl_usd"].value * 1e6) == realized

    leader = leaders[0]
    out = run_cli("positions", "--leader", leader, "--format", "csv",
                  env=environment(devnet, db_url))  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {"leader", "token_id", "size", "avg_price", "realized_pnl", "unrealized_pnl"} <= set(
        rows[0]
    )
    assert {r["token_id"]: round(float(r["size"]) * 1e6) for r in rows} == {
        token: p["size"] for token, p in truth[leader].items()
    }
    # every position named by its market (the markets asset above looked its token up)
    for r in rows:
        assert (r["question"], r["outcome"]) == expected_market(int(r["token_id"])), r

    asked = run_cli("positions", "--prices", "--format", "json", env=environment(devnet, db_url))
    assert asked.returncode == 0, asked.stderr
    priced = [r for r in json.loads(asked.stdout) if r["cur_price"] is not None]
    by_mid = [r for r in priced if Decimal(r["cur_price"]) == Decimal(midpoint(int(r["token_id"])))]
    assert any(Decimal(r["size"]) > 0 for r in by_mid)  # open positions priced by the CLOB
    for r in priced:  # unrealized = size x (price - avg), exactly
        size, price, avg = (Decimal(r[k]) for k in ("size", "cur_price", "avg_price"))
        assert Decimal(r["unrealized_pnl"]) == (size * (price - avg)).quantize(
            Decimal("1e-6"), ROUND_DOWN
        )


def test_the_data_api_comparison_is_clean_and_names_a_misreported_position(
    devnet, make_ctx, leaders
):
    from dagster import DagsterInstance, materialize

    from polygon_pipeline.defs.positions.assets import position_comparison
    from polygon_pipeline.defs.resources import PipelineResource
    from polygon_pipeline.sync.context import ApiContext
    from polygon_pipeline.sync.position_compare import compare_positions

    end = _mine_past_cutover(devnet)
    ctx = make_ctx(leaders)
    reconcile(ctx, list(EXCHANGES), 0, up_to="latest")  # the API reports at the head
    positions = _positions(ctx)
    tolerance = Decimal("0.0001")
    with ApiContext.from_settings(load_settings()) as api:
        clean = compare_positions(api, tolerance)
        assert clean.differences == [] and clean.compared > 0
        held = max((p for p in positions if p.leader == leaders[1]), key=lambda p: p.size)
        devnet.data_api(misreport=f"{leaders[1]}:{held.token_id}")
        try:
            wrong = compare_positions(api, tolerance)
            result = materialize(
                [position_comparison],
                instance=DagsterInstance.ephemeral(),
                resources={"pipeline": PipelineResource.from_settings(load_settings())},
            )
        finally:
            devnet.data_api(misreport="")
    assert [(d.leader, d.token_id, d.what) for d in wrong.differences] == [
        (leaders[1], held.token_id, "size")
    ]
    (check,) = result.get_asset_check_evaluations()  # the asset says the same, by name
    assert not check.passed
    assert f"{leaders[1]} {held.token_id}: size" in check.metadata["differences"].value
    assert end <= devnet.head()


def test_a_history_that_starts_too_late_is_flagged(devnet, make_ctx, leaders):
    """Transfers out of positions bought before the reconciled range leave negative
    balances: the no_negative_balances check says so, naming them."""
    from dagster import DagsterInstance, materialize

    from polygon_pipeline.defs.positions.assets import leader_positions, no_negative_balances
    from polygon_pipeline.defs.resources import PipelineResource

    end = _mine_past_cutover(devnet)
    ctx = make_ctx(leaders)
    reconcile(ctx, list(EXCHANGES), end - 20, end)  # the leaders' earlier buys left out
    negative = [p for p in all_positions(ctx.engine) if p.size < 0]
    assert negative
    result = materialize(
        [leader_positions, no_negative_balances],
        instance=DagsterInstance.ephemeral(),
        resources={"pipeline": PipelineResource.from_settings(load_settings())},
    )
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["negative"].value == len(negative)
    assert f"{negative[0].leader} {negative[0].token_id}" in check.metadata["first"].value


def _balance_changes(before: dict, after: dict) -> dict[tuple[str, int], int]:
    changes = {}
    for leader, per in after.items():
        for token, p in per.items():
            delta = p["size"] - before.get(leader, {}).get(token, {"size": 0})["size"]
            if delta:
                changes[(leader, int(token))] = delta
    return changes


def test_the_watcher_stores_live_transfers(devnet, start_watcher, engine, leaders):
    """The watcher's one subscription pair brings the ledgers' transfers too: the balance
    changes of blocks it heard equal the truth's, stored once, as `ws`."""
    from polygon_pipeline.store.transfers_repo import leader_transfers
    from polygon_pipeline_tests.helpers.watcher_process import SETTLE_S, wait_for

    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    start = devnet.head() + 1
    before = devnet.positions(to_block=start - 1)
    end = devnet.mine(blocks=6, fills_per_block=10)["head"]
    expected = _balance_changes(before, devnet.positions(to_block=end))
    assert expected

    def stored_changes() -> dict[tuple[str, int], int]:
        with engine.connect() as conn:
            rows = [r for r in leader_transfers(conn, leaders) if start <= r["block_number"]]
        changes: dict[tuple[str, int], int] = {}
        for r in rows:
            for wallet, sign in ((r["receiver"], 1), (r["sender"], -1)):
                if wallet in leaders:
                    key = (wallet, int(r["token_id"]))
                    changes[key] = changes.get(key, 0) + sign * int(r["amount"])
        return {k: v for k, v in changes.items() if v}

    wait_for(lambda: stored_changes() == expected, SETTLE_S, "the live transfers stored")
    with engine.connect() as conn:
        assert {r["source"] for r in leader_transfers(conn, leaders)} == {"ws"}
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0  # live, not polling
