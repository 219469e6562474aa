"""End to end, as a user drives it: the real `dagster dev` (webserver + daemon), partitions
added and runs launched through the webserver's GraphQL API as the UI does, runs executed by
the daemon: the mini-reconciliation beside a busy backfill, and a run whose worker process
is killed. (A backfill launched from the UI, its run and checks: test_dagster_ui.py.)"""

from __future__ import annotations

import os
import shutil
import signal
from datetime import UTC, datetime

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.fills.jobs import fill_checks_job
from polygon_pipeline.defs.fills.partitions import UNFINISHED_RUNS
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.window_keys import window_key
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.dagster_dev import (
    ADD_PARTITION,
    REPO,
    ROOT,
    DagsterDev,
    backfill_status,
    cells,
    launch_backfill,
    launch_job,
    launch_range_run,
    stop_sensor,
)
from polygon_pipeline_tests.helpers.sync import environment, leader_fills
from polygon_pipeline_tests.helpers.watcher_process import wait_for

WINDOW = 20


@pytest.fixture(scope="module")
def dagster_dev(devnet_session, tmp_path_factory):
    """One `dagster dev` for the module, on the session's devnet; each test mines and
    registers windows of its own."""
    tmp = tmp_path_factory.mktemp("dagster_dev")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    db_url = f"sqlite:///{tmp / 'fills.db'}"
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, devnet_session.info()["leaders"])
    env = {
        **environment(
            devnet_session,
            db_url,
            partition_window_blocks=WINDOW,
            # the sensor and the schedule stay out of the way of what is measured
            partitions_start_block=10**9,
            reconcile_cron="0 0 1 1 *",
            backfill_safety_overlap=0,  # a mini-reconciliation from the cursor: a block or two
        ),
        "DAGSTER_HOME": str(home),
    }
    log = tmp / "dagster_dev.log"
    dev = DagsterDev(env, log)
    try:
        wait_for(dev.ready, 180, f"dagster dev up ({log})", every=1)
        # ... and so do the derived assets: at each quarter hour their automation launches
        # leader_positions, whose resolution search calls eth_getLogs on the same devnet
        stop_sensor(dev, "derived_assets_automation")
        yield dev, engine, home, env
    finally:
        dev.stop()
        engine.dispose()


def _closed_windows(devnet, count: int) -> tuple[list[str], int, int]:
    start = devnet.head() + 1
    lo = start + (-start) % WINDOW
    devnet.mine(blocks=lo - start + count * WINDOW, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    return [window_key(lo + i * WINDOW, WINDOW) for i in range(count)], lo, lo + count * WINDOW - 1


def _stored(engine, lo: int, hi: int) -> set[tuple[str, int]]:
    with engine.connect() as conn:
        return {
            (r["tx_hash"], r["log_index"])
            for r in fetch_fills(conn)
            if lo <= r["block_number"] <= hi
        }


def _events(instance: DagsterInstance, run_id: str, kind: DagsterEventType) -> list:
    return [e for e in instance.all_logs(run_id, of_type=kind)]


def _step_started(instance: DagsterInstance, run_id: str) -> bool:
    return bool(_events(instance, run_id, DagsterEventType.STEP_START))


def test_the_mini_reconciliation_runs_while_backfill_runs_hold_the_rpc_pool(
    devnet, dagster_dev, leaders
):
    dev, engine, home, env = dagster_dev
    windows, lo, hi = _closed_windows(devnet, 10)
    # every exchange's cursor at the finalized head (from block 0: whatever the module's other
    # tests left uncovered below), so the mini-reconciliation has a block or two to do
    caught_up = run_cli("backfill", "--from-block", "0", env=env)
    assert caught_up.returncode == 0, caught_up.stderr
    registered = run_cli("windows", "register", "--to-block", str(hi), env=env)
    assert registered.returncode == 0, registered.stderr
    # a slow provider: each backfill run reconciles 100 blocks a block at a time, for minutes
    devnet.configure(latency_ms=1000, getlogs_max_range=1)
    backfills = [launch_backfill(dev, cells(windows[:5])), launch_backfill(dev, cells(windows[5:]))]
    with DagsterInstance.from_config(str(home)) as instance:

        def backfill_steps_running() -> list[str]:
            runs = [
                run
                for backfill in backfills
                for run in instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill}))
            ]
            started = [r.run_id for r in runs if _step_started(instance, r.run_id)]
            return started if len(started) == 2 else []

        # both slots of the polygon_rpc pool (limit 2) held by backfill steps
        backfill_runs = wait_for(backfill_steps_running, 240, "both backfill steps", every=2)
        recent = launch_job(dev, "reconcile_recent_job")
        done = wait_for(
            lambda: (run := instance.get_run_by_id(recent)).is_finished and run,
            180,
            "the mini-reconciliation",
            every=1,
        )
        assert done.status == DagsterRunStatus.SUCCESS
        for run_id in backfill_runs:  # it ran while both backfill runs were still reconciling
            assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
        observed = instance.fetch_observations(AssetKey("leader_fills"), limit=1).records
        assert observed and observed[0].run_id == recent
        devnet.configure(latency_ms=0, getlogs_max_range=None)
        # each backfill is one run (the backfill policy): once both end, every window is in
        # (the backfills are marked complete at the daemon's next wake, up to 30 s later)
        for run_id in backfill_runs:
            ended = wait_for(
                lambda r=run_id: (run := instance.get_run_by_id(r)).is_finished and run,
                300,
                "the backfill run",
                every=2,
            )
            assert ended.status == DagsterRunStatus.SUCCESS
    assert _stored(engine, lo, hi) == leader_fills(devnet.truth(lo, hi), set(leaders))


def _worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The run worker's process id, from the engine event it logs when it starts."""
    for event in _events(instance, run_id, DagsterEventType.ENGINE_EVENT):
        data = event.dagster_event.engine_event_data
        if data and "pid" in data.metadata:
            return int(data.metadata["pid"].value)
    return None


def test_a_run_whose_worker_is_killed_fails_and_is_retried(devnet, dagster_dev, leaders):
    dev, engine, home, _ = dagster_dev
    (key,), lo, hi = _closed_windows(devnet, 1)
    added = dev.query(ADD_PARTITION, repo=REPO, key=key)["addDynamicPartition"]
    assert added["__typename"] == "AddDynamicPartitionSuccess", added
    devnet.configure(latency_ms=1000, getlogs_max_range=1)  # the step lasts long enough
    first, *_, last = cells([key])
    run_id = launch_range_run(dev, first, last)
    with DagsterInstance.from_config(str(home)) as instance:
        wait_for(lambda: _step_started(instance, run_id), 180, "the step to start", every=1)
        os.kill(_worker_pid(instance, run_id), signal.SIGKILL)
        devnet.configure(latency_ms=0, getlogs_max_range=None)
        failed = wait_for(
            lambda: (run := instance.get_run_by_id(run_id)).is_finished and run,
            60,
            "the killed run to end",
            every=1,
        )
        assert failed.status == DagsterRunStatus.FAILURE  # not left STARTED
        # noticed by the code server that started it (it watches its run processes)
        crash = [e.message for e in _events(instance, run_id, DagsterEventType.ENGINE_EVENT)]
        assert any("terminated by signal 9 (SIGKILL)" in (m or "") for m in crash), crash

        def retried():
            runs = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
            return runs and runs[0].is_finished and runs[0]

        retry = wait_for(retried, 180, "the automatic retry", every=2)
        assert retry.status == DagsterRunStatus.SUCCESS
        assert retry.tags["dagster/retry_number"] == "1"
    assert _stored(engine, lo, hi) == leader_fills(devnet.truth(lo, hi), set(leaders))


def _stored_of(engine, lo: int, hi: int, exchanges) -> set[tuple[str, int]]:
    with engine.connect() as conn:
        return {
            (r["tx_hash"], r["log_index"])
            for r in fetch_fills(conn)
            if lo <= r["block_number"] <= hi and r["exchange"] in exchanges
        }


def _backfill_done(dev, backfill_id: str) -> str:
    return wait_for(lambda: backfill_status(dev, backfill_id), 300, "the backfill", every=2)


def _others_since(instance: DagsterInstance, since: datetime, backfill_id: str) -> list[str]:
    """Runs other than the backfill's that started, ran or ended since `since`, less the
    checks' schedule (it reads the store, no RPC): what the devnet's counters would also
    have counted."""
    runs = instance.get_runs(RunsFilter(updated_after=since))
    return [
        f"{r.job_name} {r.run_id}"
        for r in runs
        if r.tags.get("dagster/backfill") != backfill_id and r.job_name != fill_checks_job.name
    ]


def test_one_exchange_then_every_exchange_store_exactly_what_they_selected(
    devnet, dagster_dev, leaders
):
    """Launched through the webserver as the UI does: negrisk x 6 windows stores negrisk's
    fills there and nothing else; then every exchange x the same 6 windows stores all of
    them. Both cost the same eth_getLogs calls (one filter per chunk, every venue of the
    selected exchanges in it), the devnet's counters say: counted while no other run made
    calls (issue 20: the derived assets' automation, at a quarter hour, once made every
    exchange look 3x dearer)."""
    dev, engine, home, env = dagster_dev
    windows, lo, hi = _closed_windows(devnet, 6)
    registered = run_cli("windows", "register", "--to-block", str(hi), env=env)
    assert registered.returncode == 0, registered.stderr
    truth = devnet.truth(lo, hi)

    def truth_of(exchanges) -> set[tuple[str, int]]:
        return leader_fills([r for r in truth if r["exchange"] in exchanges], set(leaders))

    calls = []
    with DagsterInstance.from_config(str(home)) as instance:
        # the module's earlier runs (a backfill's later runs, a retry) ended first
        idle = RunsFilter(statuses=UNFINISHED_RUNS)
        wait_for(lambda: not instance.get_runs(idle), 300, "no run in progress", every=2)
        for selected in (("negrisk",), tuple(EXCHANGES)):
            since = datetime.now(UTC)
            devnet.reset_stats()
            backfill = launch_backfill(dev, cells(windows, selected))
            assert _backfill_done(dev, backfill) == "COMPLETED_SUCCESS"
            # answered queries: a query the devnet throttled (429) is sent again, and the
            # busier the machine the more of them; the bill is what the provider answered
            calls.append(devnet.stats()["served"]["eth_getLogs"])
            assert _others_since(instance, since, backfill) == []
            assert _stored_of(engine, lo, hi, EXCHANGES) == truth_of(selected) != set()
    assert calls[0] == calls[1] > 0  # one exchange costs what all of them together cost
    with DagsterInstance.from_config(str(home)) as instance:
        materialized = instance.get_materialized_partitions(AssetKey("leader_fills"))
    assert set(cells(windows)) <= materialized
