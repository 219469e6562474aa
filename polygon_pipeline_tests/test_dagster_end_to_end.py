"""End to end, as a user drives it: the real `dagster dev` (webserver + daemon), partitions
added and a backfill launched through the webserver's GraphQL API as the UI does, runs
executed by the daemon, fills and asset checks verified."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline_tests.dagster_dev import (
    ADD_PARTITION,
    REPO,
    DagsterDev,
    backfill_status,
    launch_backfill,
)
from polygon_pipeline_tests.sync_helpers import environment, leader_fills
from polygon_pipeline_tests.watcher_process import wait_for

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 20
FINALITY = 16


@pytest.fixture
def dagster_dev(devnet, tmp_path, leaders):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    db_url = f"sqlite:///{tmp_path / 'fills.db'}"
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders)
    env = {
        **environment(devnet, db_url),
        "DAGSTER_HOME": str(home),
        "POLYGON_PARTITION_WINDOW_BLOCKS": str(WINDOW),
        # the sensor and the mini-reconciliation stay out of the way of what is measured
        "POLYGON_PARTITIONS_START_BLOCK": str(10**9),
        "POLYGON_RECONCILE_CRON": "0 0 1 1 *",
    }
    dev = DagsterDev(env, tmp_path / "dagster_dev.log")
    try:
        wait_for(
            dev.ready,
            120,
            f"dagster dev up ({(tmp_path / 'dagster_dev.log').read_text()[-3000:]})",
            every=1,
        )
        yield dev, engine, home
    finally:
        dev.stop()
        engine.dispose()


def test_backfill_launched_through_the_webserver(devnet, dagster_dev, leaders):
    dev, engine, home = dagster_dev
    start = devnet.head() + 1
    lo = start + (-start) % WINDOW
    devnet.mine(blocks=lo - start + 2 * WINDOW, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    windows = [f"{w:010d}-{w + WINDOW - 1:010d}" for w in (lo, lo + WINDOW)]
    for key in windows:
        added = dev.query(ADD_PARTITION, repo=REPO, key=key)["addDynamicPartition"]
        assert added["__typename"] == "AddDynamicPartitionSuccess", added
    backfill = launch_backfill(dev, windows)
    status = wait_for(lambda: backfill_status(dev, backfill), 240, "the backfill", every=2)
    assert status == "COMPLETED_SUCCESS"
    with engine.connect() as conn:
        stored = {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}
    assert stored == leader_fills(devnet.truth(lo, lo + 2 * WINDOW - 1), set(leaders))
    instance = DagsterInstance.from_config(str(home))
    runs = [r for r in instance.get_runs() if r.tags.get("dagster/backfill")]
    # One run for both adjacent windows (the backfill policy), all exchanges in it; the
    # checks Dagster adds to a backfill's run look at that run's windows only.
    assert len(runs) == 1 and runs[0].is_success
    assert instance.get_materialized_partitions(AssetKey("leader_fills")) == set(windows)
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        list(runs[0].asset_check_selection)
    )
    assert len(checks) == 2 and all(c.status.value == "SUCCEEDED" for c in checks.values())
    for check in checks.values():
        scope = check.event.dagster_event.asset_check_evaluation_data.metadata.get("scope")
        assert scope is None or f"blocks {lo}..{lo + 2 * WINDOW - 1}" in scope.value
