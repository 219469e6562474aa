"""A new leader's history, as a user gets it from the CLI against the devnet and both
databases: only the new leaders are queried, a killed history backfill resumes exactly,
a removed and re-added leader costs nothing where it was covered."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fill_keys
from polygon_pipeline.store.schema import leader_ranges
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.sync import environment, leader_fills, one_store
from polygon_pipeline_tests.helpers.watcher_process import wait_for

RANGE = 10  # the provider's eth_getLogs block range
BATCH = 2  # leaders per OR list: small, so batches of old and new leaders differ in count


@pytest.fixture
def env(devnet, db_url) -> dict[str, str]:
    devnet.configure(getlogs_max_range=RANGE)
    return environment(
        devnet, db_url, backfill_max_range=RANGE, leader_batch_size=BATCH, leader_history_blocks=0
    )


def _mine(devnet, blocks: int) -> tuple[int, int]:
    start = devnet.head() + 1
    end = devnet.mine(blocks=blocks, fills_per_block=10)["head"]
    devnet.mine(blocks=FINALITY)
    return start, end


def _ok(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _stored(db_url: str) -> set[tuple[str, int]]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        keys = {(tx, idx) for _, tx, idx in fill_keys(conn)}
    engine.dispose()
    return keys


def _calls(devnet) -> int:
    return devnet.stats()["calls"].get("eth_getLogs", 0)


def test_new_leaders_history_queries_only_them(devnet, env, db_url, leaders, tmp_path):
    old, new = leaders[:5], leaders[5:8]
    start, end = _mine(devnet, 40)
    _ok(run_cli("leaders", "add", *old, env=env))
    _ok(run_cli("backfill", "--from-block", str(start), "--to-block", str(end), env=env))
    truth = devnet.truth(start, end)
    assert _stored(db_url) == leader_fills(truth, set(old))

    file = tmp_path / "new.csv"
    file.write_text("address,label\n" + "".join(f"{a},new\n" for a in new))
    devnet.reset_stats()
    out = _ok(run_cli("leaders", "import", str(file), "--history-from-block", str(start), env=env))
    assert "history of 3 leader(s)" in out
    chunks = (end - start + 1) // RANGE
    new_batches = -(-len(new) // BATCH)  # 2 batches; all 8 leaders would be 4
    assert _calls(devnet) == chunks * 2 * new_batches
    assert _stored(db_url) == leader_fills(truth, set(old) | set(new))

    devnet.reset_stats()  # everything is covered now: a rerun asks nothing
    out = _ok(run_cli("leaders", "import", str(file), "--history-from-block", str(start), env=env))
    assert "history of 0 leader(s)" in out and _calls(devnet) == 0


def test_a_killed_history_backfill_resumes_exactly(devnet, env, db_url, leaders):
    old, new = leaders[:2], leaders[2:6]
    start, end = _mine(devnet, 60)
    _ok(run_cli("leaders", "add", *old, env=env))
    _ok(run_cli("backfill", "--from-block", str(start), "--to-block", str(end), env=env))
    devnet.configure(getlogs_max_range=RANGE, latency_ms=40)  # slow enough to be caught
    command = [sys.executable, "-m", "polygon_pipeline", "leaders", "add", *new]
    proc = subprocess.Popen(
        [*command, "--history-from-block", str(start)],
        env={**env, "POLYGON_RPC_MAX_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = make_engine(db_url)

    def ranges_recorded() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(leader_ranges)).scalar_one()

    try:
        wait_for(lambda: ranges_recorded() >= 2 or proc.poll() is not None, 60, "2 chunks")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        engine.dispose()
    assert proc.returncode == -signal.SIGKILL, "the history ended before it could be killed"
    devnet.configure(getlogs_max_range=RANGE)
    devnet.reset_stats()
    _ok(run_cli("leaders", "add", *new, "--history-from-block", str(start), env=env))
    truth = devnet.truth(start, end)
    assert _stored(db_url) == leader_fills(truth, set(old) | set(new))
    chunks = (end - start + 1) // RANGE
    assert 0 < _calls(devnet) < chunks * 2 * 2  # resumed: the chunks stored are not asked again


@one_store
def test_a_removed_leader_added_again_costs_nothing_where_covered(devnet, env, db_url, leaders):
    start, end = _mine(devnet, 20)
    _ok(run_cli("leaders", "add", *leaders[:3], env=env))
    _ok(run_cli("backfill", "--from-block", str(start), "--to-block", str(end), env=env))
    _ok(run_cli("leaders", "remove", leaders[0], env=env))
    devnet.reset_stats()
    _ok(run_cli("leaders", "add", leaders[0], "--history-from-block", str(start), env=env))
    assert _calls(devnet) == 0  # its fills there were stored while it was followed


@one_store
def test_default_history_comes_with_the_next_reconciliation(devnet, db_url, leaders):
    start, end = _mine(devnet, 30)
    env = environment(
        devnet,
        db_url,
        backfill_max_range=RANGE,
        leader_history_blocks=25,
        backfill_safety_overlap=5,
    )
    _ok(run_cli("leaders", "add", leaders[0], env=env))
    _ok(run_cli("backfill", "--from-block", str(start), "--to-block", str(end), env=env))
    _ok(run_cli("leaders", "add", leaders[1], env=env))  # wants the last 25 blocks, later
    wanted = leader_fills(devnet.truth(end - 24, end), {leaders[1]})
    assert not wanted <= _stored(db_url)  # only its fills against leaders[0] are there
    out = _ok(run_cli("backfill", "--since-cursor", env=env))  # re-reads the last 5 blocks
    assert "history of 1 leader(s): 19 blocks" in out
    assert wanted <= _stored(db_url)


@one_store
def test_leaders_list_stats_shows_fills_as_maker(devnet, env, db_url, leaders):
    start, end = _mine(devnet, 10)
    quiet = "0x" + "ab" * 20  # a signing key, say: it never appears as maker
    _ok(run_cli("leaders", "add", leaders[0], quiet, env=env))
    _ok(run_cli("backfill", "--from-block", str(start), "--to-block", str(end), env=env))
    out = _ok(run_cli("leaders", "list", "--stats", env=env))
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    makes = [r for r in devnet.truth(start, end) if r["maker"] == leaders[0]]
    assert int(rows[leaders[0]][1]) == len(makes) > 0
    assert int(rows[leaders[0]][2]) == max(r["block_number"] for r in makes)
    assert rows[quiet][1:3] == ["0", "-"]


@one_store
def test_dagster_registers_a_leader_and_its_history_run_fills_it(
    devnet, env, db_url, leaders, monkeypatch, tmp_path
):
    """The sensor gives each new leader a partition and requests the history run of one that
    wants a history; the run stores it; the check lists the leader while holes remain."""
    from dagster import DagsterInstance, build_sensor_context, materialize

    from polygon_pipeline.defs.history.leader_history import (
        leader_histories_complete,
        leader_history,
        leader_partitions,
        leaders_sensor,
    )
    from polygon_pipeline.defs.resources import PipelineResource

    start, end = _mine(devnet, 20)
    _ok(run_cli("leaders", "add", leaders[0], env=env))
    _ok(run_cli("backfill", "--from-block", str(start), "--to-block", str(end), env=env))
    for key, value in env.items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("POLYGON_LEADER_HISTORY_BLOCKS", "20")
    _ok(run_cli("leaders", "add", leaders[1], env={**env, "POLYGON_LEADER_HISTORY_BLOCKS": "20"}))
    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))
    resources = {"pipeline": PipelineResource.from_settings(load_settings())}
    tick = leaders_sensor(build_sensor_context(instance=instance, resources=resources))
    (added,) = tick.dynamic_partitions_requests
    assert set(added.partition_keys) == {leaders[0], leaders[1]}
    assert [r.partition_key for r in tick.run_requests] == [leaders[1]]
    instance.add_dynamic_partitions(leader_partitions.name, list(added.partition_keys))

    result = materialize(
        [leader_history, leader_histories_complete],
        instance=instance,
        partition_key=leaders[1],
        resources=resources,
    )
    assert result.success
    metadata = result.asset_materializations_for_node("leader_history")[0].metadata
    assert metadata["blocks"].value == 20 and metadata["eth_getLogs_calls"].value > 0
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    assert leader_fills(devnet.truth(end - 19, end), {leaders[1]}) <= _stored(db_url)

    _ok(run_cli("leaders", "add", leaders[2], env={**env, "POLYGON_LEADER_HISTORY_BLOCKS": "20"}))
    pending = leader_histories_complete(pipeline=resources["pipeline"])
    assert not pending.passed and pending.metadata["leaders_with_holes"].value == 1
    assert leaders[2] in pending.metadata["holes"].value


@one_store
def test_holes_left_by_a_reconciliation_already_running_get_a_history_run(
    devnet, env, db_url, leaders, monkeypatch, tmp_path
):
    """A leader added (history and all) while a reconciliation that started without it is
    running: the blocks that reconciliation stores after the history stopped are holes in
    the new leader's coverage; the sensor requests a run for them, and none once closed."""
    from dagster import DagsterInstance, build_sensor_context, materialize

    from polygon_pipeline.defs.history.leader_history import leader_history, leaders_sensor
    from polygon_pipeline.defs.resources import PipelineResource
    from polygon_pipeline.store.leaders_repo import add_leaders, want_history
    from polygon_pipeline.sync.context import SyncContext
    from polygon_pipeline.sync.history import backfill_history
    from polygon_pipeline.sync.reconcile import reconcile

    for key, value in env.items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("POLYGON_RPC_MAX_CONCURRENCY", "1")  # chunks commit in block order
    start, end = _mine(devnet, 60)
    newcomer = leaders[1]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, [leaders[0]])

    def add_newcomer_once(report) -> None:
        if report.chunks != 1:
            return
        with engine.begin() as conn:
            add_leaders(conn, [newcomer])
            want_history(conn, [newcomer], start)
        with SyncContext.from_settings(load_settings()) as other:
            backfill_history(other, [newcomer])  # up to the cursor: the first chunk's end

    with SyncContext.from_settings(load_settings()) as ctx:
        reconcile(ctx, ["ctf", "negrisk", "v3"], start, end, on_progress=add_newcomer_once)
    engine.dispose()

    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))
    resources = {"pipeline": PipelineResource.from_settings(load_settings())}
    instance.add_dynamic_partitions("leaders", [leaders[0], newcomer])
    tick = leaders_sensor(build_sensor_context(instance=instance, resources=resources))
    (request,) = tick.run_requests
    assert request.partition_key == newcomer
    assert request.run_key == f"history {newcomer} missing {start + RANGE}..{end}"
    result = materialize(
        [leader_history], instance=instance, partition_key=newcomer, resources=resources
    )
    assert result.success
    assert leader_fills(devnet.truth(start, end), {newcomer}) <= _stored(db_url)
    again = leaders_sensor(build_sensor_context(instance=instance, resources=resources))
    assert again.run_requests == []
