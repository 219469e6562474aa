"""The live watcher as a real process against the devnet: fills arrive once, drops and reorgs
lose nothing, single flight, honest health, leaders picked up live, NOTIFY, Dagster events."""

from __future__ import annotations

import json
import signal

import psycopg
import pytest
from dagster import DagsterInstance, build_asset_check_context
from sqlalchemy.engine import make_url

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.checks import live_feed_matches_reconciliation
from polygon_pipeline.defs.live_feed import LIVE_FILLS
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import FILLS_CHANNEL, fetch_fills
from polygon_pipeline.store.heartbeats import last_beat
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline_tests.sync_helpers import environment, leader_fills
from polygon_pipeline_tests.watcher_process import WATCH_SETTINGS, WatcherProcess, wait_for

ALL = list(EXCHANGES)  # every exchange family, as the CLI's `--exchange all`


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def start_watcher(devnet, db_url, tmp_path):
    started: list[WatcherProcess] = []

    def start(leaders: list[str], extra_env: dict | None = None, **settings) -> WatcherProcess:
        eng = make_engine(db_url)
        with eng.begin() as conn:
            add_leaders(conn, leaders)
        eng.dispose()
        env = {**environment(devnet, db_url, **{**WATCH_SETTINGS, **settings}), **(extra_env or {})}
        watcher = WatcherProcess(env, tmp_path / f"watcher{len(started)}.log")
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop(signal.SIGKILL)


def stored(engine) -> dict[tuple[str, int], dict]:
    with engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]): r for r in fetch_fills(conn)}


def wait_until_stored(engine, expected: set, timeout: float = 20) -> dict:
    return wait_for(
        lambda: (s := stored(engine)).keys() == expected and s,
        timeout,
        f"{len(expected)} fills stored (have {len(stored(engine))})",
    )


def test_live_fills_arrive_once(devnet, start_watcher, engine, leaders):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    start = devnet.head() + 1
    end = devnet.mine(blocks=6, fills_per_block=10)["head"]
    expected = leader_fills(devnet.truth(start, end), set(leaders))
    rows = wait_until_stored(engine, expected)
    assert {r["source"] for r in rows.values()} == {"ws"}
    truth = {(r["tx_hash"], r["log_index"]): r for r in devnet.truth(start, end)}
    assert all(
        r["block_timestamp"].timestamp() == truth[k]["block_timestamp"] for k, r in rows.items()
    )
    status = watcher.wait_healthy()
    assert status["fills_written"] == len(expected) and status["leaders_watched"] == len(leaders)
    assert "polygon_pipeline_watcher_fills_written" in watcher.metrics()
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0  # live, not polling


def test_dropped_websockets_lose_nothing(devnet, start_watcher, engine, leaders):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    devnet.configure(ws_drop_every_s=0.7)
    start = devnet.head() + 1
    devnet.set_clock(0.2)
    wait_for(lambda: devnet.stats()["ws_drops"] >= 3, 20, "three websocket drops")
    devnet.set_clock(None)
    devnet.configure(ws_drop_every_s=None)
    end = devnet.head()
    expected = leader_fills(devnet.truth(start, end), set(leaders))
    # the gap-fill may also reach back before `start`: all of it must be true fills
    rows = wait_for(
        lambda: expected <= (s := stored(engine)).keys() and s,
        30,
        f"{len(expected)} fills of the drop window stored",
    )
    assert rows.keys() <= leader_fills(devnet.truth(), set(leaders))
    status = watcher.wait_healthy()
    assert status["reconnects"] >= 3 and status["gap_fills"] >= 1


def test_removed_logs_retract_fills(devnet, start_watcher, engine, leaders):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    start = devnet.head() + 1
    end = devnet.mine(blocks=4, fills_per_block=10)["head"]
    wait_until_stored(engine, leader_fills(devnet.truth(start, end), set(leaders)))
    result = devnet.reorg(2)
    assert result["removed_logs_sent"] > 0
    expected = leader_fills(devnet.truth(start, end), set(leaders))
    wait_until_stored(engine, expected)
    assert watcher.wait_healthy()["fills_retracted"] > 0


def test_single_flight_and_takeover(devnet, start_watcher, engine, leaders):
    first = start_watcher(leaders)
    first.wait_healthy()
    second = start_watcher([])
    wait_for(
        lambda: "another watcher holds the lease" in second.output(),
        20,
        "the second watcher saying it waits",
    )
    assert second.health()[0] == 503
    first.stop(signal.SIGKILL)
    second.wait_healthy(timeout=30)
    start = devnet.head() + 1
    end = devnet.mine(blocks=2, fills_per_block=10)["head"]
    expected = leader_fills(devnet.truth(start, end), set(leaders))
    rows = wait_until_stored(engine, expected | set(stored(engine)))
    assert expected <= rows.keys()


def test_health_turns_on_silence_and_back_after_reconnect(devnet, start_watcher, leaders):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    devnet.set_clock(0.2)
    devnet.configure(ws_silent=True)
    wait_for(lambda: (h := watcher.health()) and h[0] == 503, 15, "unhealthy when silent")
    devnet.configure(ws_silent=False)
    status = watcher.wait_healthy(timeout=20)
    assert status["reconnects"] >= 1


def test_a_leader_added_while_running_is_watched(devnet, start_watcher, engine, leaders):
    watcher = start_watcher(leaders[:1])
    watcher.wait_healthy()
    with engine.begin() as conn:
        add_leaders(conn, [leaders[1]])
    wait_for(lambda: watcher.health()[1]["leaders_watched"] == 2, 15, "two leaders watched")
    start = devnet.head() + 1
    end = devnet.mine(blocks=5, fills_per_block=12)["head"]
    expected = leader_fills(devnet.truth(start, end), set(leaders[:2]))
    rows = wait_for(
        lambda: expected <= stored(engine).keys() and stored(engine), 20, "the new leader's fills"
    )
    assert any(r["maker"] == leaders[1] or r["taker"] == leaders[1] for r in rows.values())


def test_sigterm_stops_cleanly_and_records_it(devnet, start_watcher, engine, leaders):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    assert watcher.stop(signal.SIGTERM) == 0
    with engine.connect() as conn:
        _, status = last_beat(conn, "watcher")
    assert status["connected"] is False
    key = devnet.rpc_url.rsplit("/", 1)[1]
    assert key not in watcher.output()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_new_fills_are_notified_on_postgres(devnet, start_watcher, db_url, leaders):
    conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {FILLS_CHANNEL}")
        watcher = start_watcher(leaders)
        watcher.wait_healthy()
        start = devnet.head() + 1
        end = devnet.mine(blocks=3, fills_per_block=10)["head"]
        expected = leader_fills(devnet.truth(start, end), set(leaders))
        heard = set()
        for note in listener.notifies(timeout=20, stop_after=len(expected)):
            event = json.loads(note.payload)
            heard.add((event["tx_hash"], event["log_index"]))
        assert heard == expected


def test_watcher_reports_to_dagster(devnet, start_watcher, tmp_path, leaders):
    home = tmp_path / "dagster_home"
    home.mkdir()
    watcher = start_watcher(leaders, extra_env={"DAGSTER_HOME": str(home)})
    watcher.wait_healthy()
    devnet.mine(blocks=2, fills_per_block=10)
    instance = DagsterInstance.from_config(str(home))
    event = wait_for(
        lambda: instance.get_latest_materialization_event(LIVE_FILLS),
        20,
        "a live_fills materialization",
    )
    assert event.asset_materialization.metadata["fills_written_total"].value > 0
    assert instance.get_runs() == []  # reported, never launched


def test_startup_backfill_only_when_asked(devnet, start_watcher, engine, leaders):
    start = devnet.head() + 1
    end = devnet.mine(blocks=10, fills_per_block=10)["head"]
    quiet = start_watcher(leaders)  # POLYGON_BACKFILL_ON_STARTUP defaults to false
    quiet.wait_healthy()
    assert not stored(engine)
    quiet.stop()
    eager = start_watcher([], backfill_on_startup="true", backfill_startup_blocks=5)
    window = leader_fills(devnet.truth(end - 4, end), set(leaders))
    rows = wait_for(
        lambda: (s := stored(engine)).keys() == window and s,
        20,
        "the last 5 blocks reconciled at startup",
    )
    assert {r["source"] for r in rows.values()} == {"backfill"}
    assert eager.wait_healthy()["gap_fills"] == 1
    assert not leader_fills(devnet.truth(start, end - 5), set(leaders)) & rows.keys()


def test_live_versus_reconciled_check_counts_what_the_feed_missed(
    devnet, start_watcher, engine, db_url, leaders, monkeypatch
):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    live_start = devnet.head() + 1
    live_end = devnet.mine(blocks=4, fills_per_block=10)["head"]
    wait_until_stored(engine, leader_fills(devnet.truth(live_start, live_end), set(leaders)))
    watcher.stop()
    gap_end = devnet.mine(blocks=4, fills_per_block=10)["head"]  # nobody watching
    devnet.mine(blocks=16)  # bury both below the finalized head
    for key, value in environment(devnet, db_url).items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    pipeline = PipelineResource(rpc_url=devnet.rpc_url, db_url=db_url)
    ctx = pipeline.sync_context()
    reconcile(ctx, ALL, live_start, gap_end)
    ctx.close()
    result = live_feed_matches_reconciliation(build_asset_check_context(), pipeline=pipeline)
    missed = leader_fills(devnet.truth(live_end + 1, gap_end), set(leaders))
    assert not result.passed
    assert result.metadata["misses"].value == len(missed) > 0
    assert result.metadata["extras"].value == 0


def test_heartbeat_check_follows_the_watcher(devnet, start_watcher, db_url, leaders, tmp_path):
    """The health sensor reports the heartbeat check without a run: passing while the watcher
    runs, failing once it stopped."""
    from dagster import DagsterInstance, build_sensor_context

    from polygon_pipeline.defs.automation import watcher_health_sensor

    resources = {"pipeline": PipelineResource(rpc_url=devnet.rpc_url, db_url=db_url)}
    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))

    def evaluation():
        tick = watcher_health_sensor(build_sensor_context(instance=instance, resources=resources))
        (found,) = tick.asset_events
        assert found.asset_key == LIVE_FILLS and found.check_name == "watcher_heartbeat_recent"
        return found

    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    wait_for(lambda: evaluation().passed, 20, "a passing heartbeat check")
    watcher.stop()
    stopped = evaluation()
    assert not stopped.passed and stopped.metadata["status"].value["connected"] is False
