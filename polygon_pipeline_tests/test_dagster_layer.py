"""The Dagster layer with Dagster's own test helpers, against the devnet and both databases:
partitions reconcile exactly the ground truth, the sensor registers windows once, the
schedule reconciles from the cursor, the checks see what they should."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from dagster import (
    DagsterInstance,
    MultiPartitionKey,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from polygon_pipeline.defs.assets import daily_summaries, leader_daily_summaries, leader_fills
from polygon_pipeline.defs.automation import block_windows_sensor, reconcile_recent_schedule
from polygon_pipeline.defs.checks import no_coverage_gaps, no_duplicate_fills
from polygon_pipeline.defs.jobs import reconcile_recent_job
from polygon_pipeline.defs.partitions import window_key, window_partitions
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline_tests.sync_helpers import environment
from polygon_pipeline_tests.sync_helpers import leader_fills as truth_fills

FINALITY = 16
WINDOW = 20


@pytest.fixture
def dagster_env(devnet, db_url, leaders, monkeypatch, tmp_path):
    """Environment, leaders loaded, a temporary Dagster instance and the resource."""
    for key, value in environment(devnet, db_url).items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("POLYGON_PARTITION_WINDOW_BLOCKS", str(WINDOW))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders)
    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))
    yield {
        "engine": engine,
        "instance": instance,
        "resources": {"pipeline": PipelineResource(rpc_url=devnet.rpc_url, db_url=db_url)},
    }
    engine.dispose()


def _closed_window(devnet) -> tuple[int, int]:
    """Mine until a whole WINDOW-aligned window of trades lies below the finalized head."""
    start = devnet.head() + 1
    lo = start + (-start) % WINDOW
    devnet.mine(blocks=lo - start + WINDOW, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    return lo, lo + WINDOW - 1


def _stored(engine) -> set[tuple[str, int]]:
    with engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}


def test_partitions_reconcile_exactly_their_window(devnet, dagster_env, leaders):
    lo, hi = _closed_window(devnet)
    key = window_key(lo, WINDOW)
    instance = dagster_env["instance"]
    instance.add_dynamic_partitions(window_partitions.name, [key])
    devnet.reset_stats()
    for exchange in ("ctf", "negrisk"):
        result = materialize(
            [leader_fills, no_duplicate_fills],
            instance=instance,
            partition_key=MultiPartitionKey({"exchange": exchange, "window": key}),
            resources=dagster_env["resources"],
        )
        assert result.success
        metadata = result.asset_materializations_for_node("leader_fills")[0].metadata
        expected = [r for r in devnet.truth(lo, hi) if r["exchange"] == exchange]
        assert metadata["fills_found"].value == len(truth_fills(expected, set(leaders)))
        assert metadata["eth_getLogs_calls"].value >= 2
        (check,) = result.get_asset_check_evaluations()
        assert check.passed
    assert _stored(dagster_env["engine"]) == truth_fills(devnet.truth(lo, hi), set(leaders))


def test_a_window_not_yet_final_fails_clearly(devnet, dagster_env):
    head = devnet.head()
    key = window_key(head, WINDOW)
    dagster_env["instance"].add_dynamic_partitions(window_partitions.name, [key])
    result = materialize(
        [leader_fills],
        instance=dagster_env["instance"],
        raise_on_error=False,
        partition_key=MultiPartitionKey({"exchange": "ctf", "window": key}),
        resources=dagster_env["resources"],
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "not finalized yet" in failure


def test_sensor_registers_closed_windows_once(devnet, dagster_env):
    lo, hi = _closed_window(devnet)
    os.environ["POLYGON_PARTITIONS_START_BLOCK"] = str(lo)
    try:
        instance = dagster_env["instance"]
        context = build_sensor_context(instance=instance, resources=dagster_env["resources"])
        result = block_windows_sensor(context)
        keys = {r.partition_key.keys_by_dimension["window"] for r in result.run_requests}
        assert window_key(lo, WINDOW) in keys
        assert all(int(k.split("-")[1]) <= devnet.head() - FINALITY for k in keys)
        assert {r.partition_key.keys_by_dimension["exchange"] for r in result.run_requests} == {
            "ctf",
            "negrisk",
        }
        assert len({r.run_key for r in result.run_requests}) == len(result.run_requests)
        (added,) = result.dynamic_partitions_requests
        assert set(added.partition_keys) == keys
        again = block_windows_sensor(
            build_sensor_context(
                instance=instance, cursor=result.cursor, resources=dagster_env["resources"]
            )
        )
        assert not again.run_requests  # nothing requested twice
        devnet.mine(blocks=WINDOW)
        later = block_windows_sensor(
            build_sensor_context(
                instance=instance, cursor=result.cursor, resources=dagster_env["resources"]
            )
        )
        assert {r.partition_key.keys_by_dimension["window"] for r in later.run_requests} == {
            window_key(int(result.cursor), WINDOW)
        }
    finally:
        del os.environ["POLYGON_PARTITIONS_START_BLOCK"]


def test_schedule_reconciles_from_the_cursor(devnet, dagster_env, leaders):
    (request,) = reconcile_recent_schedule.evaluate_tick(
        build_schedule_context(instance=dagster_env["instance"])
    ).run_requests
    assert request.tags["dagster/schedule_name"] == reconcile_recent_schedule.name
    assert reconcile_recent_job.tags["polygon_pipeline/rpc"] == "reconcile"  # queue limit
    devnet.mine(blocks=10, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    first = reconcile_recent_job.execute_in_process(
        resources=dagster_env["resources"], instance=dagster_env["instance"]
    )
    assert first.success
    start = devnet.head() + 1
    end = devnet.mine(blocks=8, fills_per_block=6)["head"]
    devnet.mine(blocks=FINALITY)
    second = reconcile_recent_job.execute_in_process(
        resources=dagster_env["resources"], instance=dagster_env["instance"]
    )
    assert second.success
    assert truth_fills(devnet.truth(start, end), set(leaders)) <= _stored(dagster_env["engine"])


def test_coverage_check_counts_the_holes(devnet, dagster_env):
    lo, hi = _closed_window(devnet)
    instance = dagster_env["instance"]
    first, second = window_key(lo - WINDOW, WINDOW), window_key(lo, WINDOW)
    instance.add_dynamic_partitions(window_partitions.name, [first, second])
    result = materialize(
        [leader_fills, no_coverage_gaps],
        instance=instance,
        partition_key=MultiPartitionKey({"exchange": "ctf", "window": second}),
        resources=dagster_env["resources"],
    )
    (check,) = result.get_asset_check_evaluations()
    # the cursor reached `hi` for ctf, but the first window was never reconciled
    assert not check.passed and check.metadata["blocks_missing"].value == WINDOW
    materialize(
        [leader_fills],
        instance=instance,
        partition_key=MultiPartitionKey({"exchange": "ctf", "window": first}),
        resources=dagster_env["resources"],
    )
    result = materialize(
        [leader_fills, no_coverage_gaps],
        instance=instance,
        partition_key=MultiPartitionKey({"exchange": "ctf", "window": second}),
        resources=dagster_env["resources"],
    )
    assert result.get_asset_check_evaluations()[0].passed


def test_daily_summaries(devnet, dagster_env, leaders):
    lo, hi = _closed_window(devnet)
    key = window_key(lo, WINDOW)
    dagster_env["instance"].add_dynamic_partitions(window_partitions.name, [key])
    for exchange in ("ctf", "negrisk"):
        materialize(
            [leader_fills],
            instance=dagster_env["instance"],
            partition_key=MultiPartitionKey({"exchange": exchange, "window": key}),
            resources=dagster_env["resources"],
        )
    result = materialize(
        [leader_daily_summaries],
        instance=dagster_env["instance"],
        resources=dagster_env["resources"],
    )
    assert result.success
    with dagster_env["engine"].connect() as conn:
        rows = [r for r in fetch_fills(conn) if r["maker"] in set(leaders)]
    table = daily_summaries(rows)
    assert table["trades"].sum() == len(rows)  # each leader order fill counted once
    assert (table["buys"] + table["sells"] == table["trades"]).all()


def test_daily_summaries_of_known_rows():
    day = datetime(2026, 11, 24, 12, tzinfo=UTC)
    base = {"maker": "0xaa", "block_timestamp": day}
    rows = [
        {
            **base,
            "layout": "v1",
            "side": "BUY",
            "token_id": 7,
            "collateral_amount": 500_000,
            "token_amount": 1_000_000,
        },  # V1: BUY 1 token for 0.5 USDC.e
        {
            **base,
            "layout": "v2",
            "side": "SELL",
            "token_id": 7,
            "collateral_amount": 1_200_000,
            "token_amount": 2_000_000,
        },  # V2: SELL 2 tokens for 1.2 pUSD
    ]
    table = daily_summaries(rows)
    assert table.to_dict("records") == [
        {
            "leader": "0xaa",
            "day": day.date(),
            "trades": 2,
            "buys": 1,
            "sells": 1,
            "tokens": 3.0,
            "usdc": 1.7,
            "avg_price": round(1.7 / 3, 6),
        }
    ]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_dagster_storage_on_postgres(devnet, dagster_env, leaders, tmp_path, monkeypatch):
    """The documented production instance (dagster.postgres.yaml) against the local server."""
    import shutil
    import uuid
    from pathlib import Path

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from polygon_pipeline_tests.conftest import PG_ADMIN_URL

    name = f"pp_dagster_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg = make_url(PG_ADMIN_URL)
    for key, value in {
        "DAGSTER_PG_HOST": pg.host,
        "DAGSTER_PG_PORT": str(pg.port or 5432),
        "DAGSTER_PG_USER": pg.username,
        "DAGSTER_PG_PASSWORD": pg.password or "",
        "DAGSTER_PG_DB": name,
    }.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "pg_home"
    home.mkdir()
    shutil.copy(
        Path(__file__).resolve().parents[1] / "dagster.postgres.yaml", home / "dagster.yaml"
    )
    try:
        instance = DagsterInstance.from_config(str(home))
        lo, hi = _closed_window(devnet)
        key = window_key(lo, WINDOW)
        instance.add_dynamic_partitions(window_partitions.name, [key])
        result = materialize(
            [leader_fills],
            instance=instance,
            partition_key=MultiPartitionKey({"exchange": "ctf", "window": key}),
            resources=dagster_env["resources"],
        )
        assert result.success
        instance.dispose()
        runs_db = create_engine(pg.set(database=name))
        with runs_db.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 1
            assert (
                conn.execute(
                    text(
                        "SELECT count(*) FROM event_logs WHERE dagster_event_type = "
                        "'ASSET_MATERIALIZATION'"
                    )
                ).scalar_one()
                == 1
            )
        runs_db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
