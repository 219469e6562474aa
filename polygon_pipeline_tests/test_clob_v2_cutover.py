"""Across the CLOB V2 cutover, on a devnet of its own whose trading moves from the V1 to the
V2 venues at CUTOVER: the watcher, a backfill and a Dagster partition each store exactly the
truth on both sides, for the calls a V1-only range of the same length costs; the daily
summaries count each leader order once."""

from __future__ import annotations

import signal

import pytest
from dagster import DagsterInstance, materialize

from polygon_pipeline.defs.fills.assets import leader_fills
from polygon_pipeline.defs.fills.partitions import cell_key, window_partitions
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.devnet.handle import start_devnet
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.daily_summaries import daily_summaries
from polygon_pipeline.sync.window_keys import window_key
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.sync import environment
from polygon_pipeline_tests.helpers.sync import leader_fills as truth_fills
from polygon_pipeline_tests.helpers.watcher_process import WATCH_SETTINGS, WatcherProcess, wait_for

CUTOVER = 70
RANGE = 10  # the provider's eth_getLogs block range, as on a free tier


@pytest.fixture(scope="module")
def devnet_session(tmp_path_factory):
    """Overrides the session's devnet for this module: its own chain, cutover at CUTOVER."""
    handle = start_devnet(tmp_path_factory.mktemp("cutover"), "--layout-blocks", f"v2={CUTOVER}")
    yield handle
    handle.stop()


def _mine_to(devnet, block: int) -> None:
    if devnet.head() < block:
        devnet.mine(blocks=block - devnet.head(), fills_per_block=8)


def _stored(db_url: str) -> dict[tuple[str, int], dict]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = {(r["tx_hash"], r["log_index"]): r for r in fetch_fills(conn)}
    engine.dispose()
    return rows


def _load_leaders(db_url: str, leaders: list[str]) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders)
    engine.dispose()


def _same_as_truth(rows: dict, truth: list[dict]) -> None:
    """Every normalized column equals what the generator emitted."""
    by_key = {(r["tx_hash"], r["log_index"]): r for r in truth}
    for key, row in rows.items():
        expected = by_key[key]
        for field in (
            "exchange", "venue", "layout", "maker", "taker", "side", "token_id",
            "maker_asset_id", "taker_asset_id", "maker_amount", "taker_amount",
            "collateral_amount", "token_amount", "fee", "fee_asset", "builder", "metadata",
        ):  # fmt: skip
            assert row[field] == expected[field], (key, field)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the chain crosses once
def test_the_watcher_follows_trading_across_the_cutover(devnet, db_url, leaders, tmp_path):
    assert devnet.head() < CUTOVER - 5, "this test must run first in the module"
    _load_leaders(db_url, leaders)
    env = environment(devnet, db_url, **WATCH_SETTINGS)
    watcher = WatcherProcess(env, tmp_path / "watcher.log", devnet=devnet)
    try:
        watcher.wait_healthy()
        start = devnet.head() + 1
        for _ in range(4):  # in steps, so the socket carries both layouts live
            devnet.mine(blocks=5, fills_per_block=8)
        _mine_to(devnet, CUTOVER + 10)
        truth = devnet.truth(start, devnet.head())
        expected = truth_fills(truth, set(leaders))
        rows = wait_for(
            lambda: (s := _stored(db_url)).keys() == expected and s,
            30,
            f"{len(expected)} fills stored live",
        )
    finally:
        watcher.stop(signal.SIGTERM)
    assert {r["layout"] for r in rows.values()} == {"v1", "v2"}
    assert {r["source"] for r in rows.values()} == {"ws"}
    _same_as_truth(rows, truth)


def _backfill(devnet, db_url: str, lo: int, hi: int) -> int:
    """`polygon-pipeline backfill` as a user runs it; the provider's eth_getLogs count."""
    devnet.reset_stats()
    env = environment(devnet, db_url, backfill_max_range=RANGE)
    done = run_cli("backfill", "--exchange", "all", "--from-block", str(lo), "--to-block",
                   str(hi), env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return devnet.stats()["calls"]["eth_getLogs"]


def test_a_backfill_across_the_cutover_costs_what_a_v1_range_costs(devnet, db_url, leaders):
    """A 10-block provider range with the cutover inside one chunk: exactly the truth on both
    sides, and as many calls as a V1-only range of the same length (one filter covers
    every venue and layout)."""
    across, v1_only = (CUTOVER - 15, CUTOVER + 14), (CUTOVER - 60, CUTOVER - 31)
    _mine_to(devnet, across[1] + FINALITY)
    devnet.configure(getlogs_max_range=RANGE)
    _load_leaders(db_url, leaders)
    calls_across = _backfill(devnet, db_url, *across)
    rows = _stored(db_url)
    truth = devnet.truth(*across)
    assert rows.keys() == truth_fills(truth, set(leaders))
    assert {r["layout"] for r in rows.values()} == {"v1", "v2"}
    _same_as_truth(rows, truth)
    calls_v1 = _backfill(devnet, db_url, *v1_only)
    assert {r["layout"] for r in devnet.truth(*v1_only)} == {"v1"}
    chunks = (across[1] - across[0] + 1) // RANGE
    assert calls_across == calls_v1 == chunks * 2  # maker + taker query per chunk, no more

    # A day's summary spanning the cutover counts each leader order once: its maker fill.
    stored = [r for r in _stored(db_url).values() if across[0] <= r["block_number"] <= across[1]]
    summary = daily_summaries([r for r in stored if r["maker"] in set(leaders)])
    orders = [r for r in truth if r["maker"] in set(leaders) and r["side"] is not None]
    assert int(summary["trades"].sum()) == len(orders)
    assert int(summary["buys"].sum()) == sum(r["side"] == "BUY" for r in orders)


def test_a_dagster_partition_across_the_cutover(devnet, db_url, leaders, monkeypatch, tmp_path):
    window = 20
    lo = CUTOVER - CUTOVER % window  # the window holding the cutover
    _mine_to(devnet, lo + window + FINALITY)
    for key, value in environment(devnet, db_url, backfill_max_range=RANGE).items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("POLYGON_PARTITION_WINDOW_BLOCKS", str(window))
    _load_leaders(db_url, leaders)
    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))
    key = window_key(lo, window)
    instance.add_dynamic_partitions(window_partitions.name, [key])
    devnet.configure(getlogs_max_range=RANGE)
    devnet.reset_stats()
    result = materialize(
        [leader_fills],
        instance=instance,
        tags={  # the window on every exchange, as the window sensor launches it
            "dagster/asset_partition_range_start": cell_key("ctf", key),
            "dagster/asset_partition_range_end": cell_key("v3", key),
        },
        resources={"pipeline": PipelineResource.from_settings(load_settings())},
    )
    assert result.success
    # Two 10-block chunks, a maker and a taker query each, every venue in each query.
    assert devnet.stats()["calls"]["eth_getLogs"] == (window // RANGE) * 2
    truth = devnet.truth(lo, lo + window - 1)
    rows = _stored(db_url)
    assert rows.keys() == truth_fills(truth, set(leaders))
    assert {r["layout"] for r in rows.values()} == {"v1", "v2"}
