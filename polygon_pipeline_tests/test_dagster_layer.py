"""The Dagster layer with Dagster's own test helpers, against the devnet and both databases:
window runs reconcile exactly their windows (several per run, all exchanges at once), windows
are registered in ascending order, the sensors and schedules do what they say, the checks
can fail and do when they should."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs import defs
from polygon_pipeline.defs.assets import daily_summaries, leader_daily_summaries, leader_fills
from polygon_pipeline.defs.automation import (
    block_windows_sensor,
    reconcile_recent_schedule,
    watcher_health_sensor,
)
from polygon_pipeline.defs.jobs import reconcile_recent_job
from polygon_pipeline.defs.partitions import register_windows, window_key, window_partitions
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.heartbeats import beat
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.watcher_status import WATCHER_ROLE
from polygon_pipeline_tests.sync_helpers import environment
from polygon_pipeline_tests.sync_helpers import leader_fills as truth_fills

FINALITY = 16
WINDOW = 20
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


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
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path))  # schedules need its ref
    yield {
        "engine": engine,
        "instance": instance,
        "resources": {"pipeline": PipelineResource(rpc_url=devnet.rpc_url, db_url=db_url)},
    }
    engine.dispose()


def _closed_windows(devnet, count: int = 1) -> tuple[int, int]:
    """Mine until `count` whole WINDOW-aligned windows of trades lie below the finalized
    head; their first and last block."""
    start = devnet.head() + 1
    lo = start + (-start) % WINDOW
    devnet.mine(blocks=lo - start + count * WINDOW, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    return lo, lo + count * WINDOW - 1


def _stored(engine) -> set[tuple[str, int]]:
    with engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}


def _windows(lo: int, count: int) -> list[str]:
    return [window_key(lo + i * WINDOW, WINDOW) for i in range(count)]


def _materialize(dagster_env, keys: list[str], *assets, **kwargs):
    """One run over the windows `keys` (a range, as a backfill's run gets them)."""
    return materialize(
        [leader_fills, *assets],
        instance=dagster_env["instance"],
        tags=dict(zip(RANGE_TAGS, (keys[0], keys[-1]), strict=True)),
        resources=dagster_env["resources"],
        **kwargs,
    )


def test_one_run_reconciles_several_windows_on_every_exchange(devnet, dagster_env, leaders):
    lo, hi = _closed_windows(devnet, 3)
    keys = _windows(lo, 3)
    register_windows(dagster_env["instance"], keys)
    devnet.reset_stats()
    result = _materialize(dagster_env, keys)
    assert result.success
    materializations = result.asset_materializations_for_node("leader_fills")
    assert sorted(m.partition for m in materializations) == keys
    metadata = materializations[0].metadata
    assert metadata["windows"].value == 3
    assert metadata["block_ranges"].value == f"{lo}..{hi}"  # adjacent windows merged
    truth = devnet.truth(lo, hi)
    assert metadata["fills_found"].value == len(truth_fills(truth, set(leaders)))
    assert _stored(dagster_env["engine"]) == truth_fills(truth, set(leaders))
    # both exchanges in each query: the calls of one pass over the blocks, not two
    assert devnet.stats()["calls"]["eth_getLogs"] == metadata["eth_getLogs_calls"].value


def test_a_window_not_yet_final_fails_clearly_without_retries(devnet, dagster_env):
    key = window_key(devnet.head(), WINDOW)
    register_windows(dagster_env["instance"], [key])
    result = materialize(
        [leader_fills],
        instance=dagster_env["instance"],
        raise_on_error=False,
        partition_key=key,
        resources=dagster_env["resources"],
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "not finalized yet" in failure.step_failure_data.error.message
    kinds = {event.event_type for event in result.all_events}
    assert DagsterEventType.STEP_UP_FOR_RETRY not in kinds


def test_windows_stay_in_ascending_order_whatever_is_registered_when(devnet, dagster_env):
    instance = dagster_env["instance"]
    lo, _ = _closed_windows(devnet, 4)
    keys = _windows(lo, 4)
    assert register_windows(instance, keys[2:]) == keys[2:]
    result = _materialize(dagster_env, keys[2:3])
    assert result.success
    assert register_windows(instance, keys[:2]) == keys[:2]  # older windows, added later
    assert register_windows(instance, keys) == []
    assert list(instance.get_dynamic_partitions(window_partitions.name)) == keys
    materialized = instance.get_materialized_partitions(leader_fills.key)
    assert materialized == {keys[2]}  # kept across the re-registration
    with pytest.raises(ValueError, match="not a block window key"):
        register_windows(instance, ["0000000000-00000000019"])


def test_sensor_registers_closed_windows_once(devnet, dagster_env, monkeypatch):
    lo, hi = _closed_windows(devnet)
    monkeypatch.setenv("POLYGON_PARTITIONS_START_BLOCK", str(lo))
    instance, resources = dagster_env["instance"], dagster_env["resources"]
    result = block_windows_sensor(build_sensor_context(instance=instance, resources=resources))
    keys = [r.partition_key for r in result.run_requests]
    assert keys[0] == window_key(lo, WINDOW) and keys == sorted(keys)
    assert all(int(k.split("-")[1]) <= devnet.head() - FINALITY for k in keys)
    assert len({r.run_key for r in result.run_requests}) == len(keys)
    assert list(instance.get_dynamic_partitions(window_partitions.name)) == keys
    again = block_windows_sensor(
        build_sensor_context(instance=instance, cursor=result.cursor, resources=resources)
    )
    assert not again.run_requests  # nothing requested twice
    devnet.mine(blocks=WINDOW)
    later = block_windows_sensor(
        build_sensor_context(instance=instance, cursor=result.cursor, resources=resources)
    )
    assert [r.partition_key for r in later.run_requests] == [window_key(int(result.cursor), WINDOW)]


def test_schedule_reconciles_from_the_cursor_first_and_once(devnet, dagster_env, leaders):
    instance = dagster_env["instance"]
    (request,) = reconcile_recent_schedule.evaluate_tick(
        build_schedule_context(instance=instance)
    ).run_requests
    assert request.tags["dagster/schedule_name"] == reconcile_recent_schedule.name
    assert reconcile_recent_job.tags["dagster/priority"] == "10"  # ahead of backfill runs
    devnet.mine(blocks=10, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    first = reconcile_recent_job.execute_in_process(
        resources=dagster_env["resources"], instance=instance
    )
    assert first.success
    start = devnet.head() + 1
    end = devnet.mine(blocks=8, fills_per_block=6)["head"]
    devnet.mine(blocks=FINALITY)
    second = reconcile_recent_job.execute_in_process(
        resources=dagster_env["resources"], instance=instance
    )
    assert second.success
    assert truth_fills(devnet.truth(start, end), set(leaders)) <= _stored(dagster_env["engine"])
    observations = instance.fetch_observations(leader_fills.key, limit=10).records
    assert len(observations) == 2  # the lineage shows each mini-reconciliation
    instance.create_run_for_job(reconcile_recent_job, status=DagsterRunStatus.STARTED)
    skipped = reconcile_recent_schedule.evaluate_tick(build_schedule_context(instance=instance))
    assert not skipped.run_requests and "not finished" in skipped.skip_message


def _fill_checks(instance):
    result = defs.resolve_job_def("fill_checks").execute_in_process(instance=instance)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_coverage_check_fails_on_holes_and_bad_keys(devnet, dagster_env):
    instance = dagster_env["instance"]
    lo, _ = _closed_windows(devnet, 2)
    first, second = _windows(lo, 2)
    register_windows(instance, [first, second])
    assert _materialize(dagster_env, [second]).success
    check = _fill_checks(instance)["no_coverage_gaps"]
    # the cursors reached the second window's end, but the first was never reconciled
    assert not check.passed
    assert check.metadata["blocks_missing"].value == len(EXCHANGES) * WINDOW
    assert _materialize(dagster_env, [first]).success
    assert _fill_checks(instance)["no_coverage_gaps"].passed
    instance.add_dynamic_partitions(window_partitions.name, ["not-a-window"])  # a typo in the UI
    check = _fill_checks(instance)["no_coverage_gaps"]
    assert not check.passed and check.metadata["bad_window_keys"].value == ["not-a-window"]


def test_watcher_health_is_reported_without_a_run(dagster_env):
    instance, resources = dagster_env["instance"], dagster_env["resources"]

    def evaluate():
        result = watcher_health_sensor(build_sensor_context(instance=instance, resources=resources))
        (evaluation,) = result.asset_events
        return evaluation

    assert not evaluate().passed  # no watcher has ever run
    with dagster_env["engine"].begin() as conn:
        beat(conn, WATCHER_ROLE, "test:1", {"healthy": True, "connected": True})
    healthy = evaluate()
    assert healthy.passed and healthy.asset_key == AssetKey("live_fills")
    assert not instance.get_runs()


def test_daily_summaries(devnet, dagster_env, leaders):
    lo, _ = _closed_windows(devnet)
    keys = _windows(lo, 1)
    register_windows(dagster_env["instance"], keys)
    _materialize(dagster_env, keys)
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

    from polygon_pipeline.devnet.scratch_db import PG_ADMIN_URL

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
        lo, _ = _closed_windows(devnet)
        key = window_key(lo, WINDOW)
        register_windows(instance, [key])
        result = materialize(
            [leader_fills],
            instance=instance,
            partition_key=key,
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


def test_windows_register_command_adds_a_range_in_order(tmp_path):
    from dagster import DagsterInstance

    from polygon_pipeline_tests.test_cli import run_cli

    home = tmp_path / "home"
    home.mkdir()
    env = {
        "DAGSTER_HOME": str(home),
        "POLYGON_PARTITION_WINDOW_BLOCKS": "100",
        "POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    later = run_cli("windows", "register", "--from-block", "300", "--to-block", "599", env=env)
    assert later.returncode == 0 and "3 new window(s) of 3" in later.stdout, later.stderr
    older = run_cli("windows", "register", "--from-block", "0", "--to-block", "450", env=env)
    assert older.returncode == 0 and "3 new window(s) of 4" in older.stdout, older.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        keys = list(instance.get_dynamic_partitions(window_partitions.name))
    assert keys == [window_key(start, 100) for start in range(0, 600, 100)]
    no_home = run_cli("windows", "register", "--from-block", "0", env={})
    assert no_home.returncode == 1 and "DAGSTER_HOME" in no_home.stderr
