"""The live watcher as a real process against the devnet: fills arrive once, drops and reorgs
lose nothing, single flight, honest health, leaders picked up live, NOTIFY, Dagster events."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, build_asset_check_context
from sqlalchemy.engine import make_url

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.fills.checks import live_feed_matches_reconciliation
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.devnet.anvil import free_port
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.fills_repo import FILLS_CHANNEL, fetch_fills
from polygon_pipeline.store.heartbeats_repo import last_beat
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.live_feed_report import LIVE_FILLS
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline_tests.helpers.sync import environment, leader_fills, one_store
from polygon_pipeline_tests.helpers.watcher_process import (
    SETTLE_S,
    WatcherProcess,
    terminate_lock_holder,
    wait_for,
)

ALL = list(EXCHANGES)  # every exchange family, as the CLI's `--exchange all`
# Wider than the devnet's finality depth (16) plus the safety overlap (20): a startup
# gap-fill of this many blocks leaves a cursor, and the overlap below it stays inside.
STARTUP_WINDOW = 40


def stored(engine) -> dict[tuple[str, int], dict]:
    with engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]): r for r in fetch_fills(conn)}


def wait_until_stored(engine, expected: set, timeout: float = SETTLE_S) -> dict:
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
    calls = devnet.stats()["calls"]
    assert calls.get("eth_getLogs", 0) == 0  # live, not polling
    assert calls.get("eth_getBlockByHash", 0) <= end - start + 1  # a block's hash checked once


@one_store
def test_dropped_websockets_lose_nothing(devnet, start_watcher, engine, leaders):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    devnet.configure(ws_drop_every_s=0.7)
    start = devnet.head() + 1
    devnet.set_clock(0.2)
    wait_for(lambda: devnet.stats()["ws_drops"] >= 3, SETTLE_S, "three websocket drops")
    devnet.set_clock(None)
    devnet.configure(ws_drop_every_s=None)
    end = devnet.head()
    expected = leader_fills(devnet.truth(start, end), set(leaders))
    # the gap-fill may also reach back before `start`: all of it must be true fills
    rows = wait_for(
        lambda: expected <= (s := stored(engine)).keys() and s,
        SETTLE_S,
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


@one_store
@pytest.mark.parametrize("fault", [{"fabricate_logs": True}, {"ignore_topic_filter": True}])
def test_the_watcher_stores_no_foreign_log(devnet, start_watcher, engine, leaders, fault):
    """A fabricated log (a block hash no block has) and logs the subscription excludes are
    neither stored nor notified; the real fills are."""
    devnet.configure(**fault)
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    start = devnet.head() + 1
    end = devnet.mine(blocks=4, fills_per_block=10)["head"]
    expected = leader_fills(devnet.truth(start, end), set(leaders))
    wait_until_stored(engine, expected)
    status = wait_for(
        lambda: (h := watcher.health()) and h[1]["foreign_logs"] and h[1], 20, "a foreign log"
    )
    assert status["fills_written"] == len(expected)
    assert set(stored(engine)) == expected


def fill_notices(truth: list[dict], leaders: set[str]) -> int:
    """The log notifications a watcher of `leaders` gets for these fills: one per
    subscription a fill matches, so two for a fill between two leaders (the maker and the
    taker subscription each send it, in an order of their own)."""
    return sum((r["maker"] in leaders) + (r["taker"] in leaders) for r in truth)


@one_store
@pytest.mark.parametrize("style", ["other_hash", "same_hash"])
def test_a_bogus_removal_deletes_nothing(devnet, start_watcher, engine, leaders, style):
    """A `removed: true` notice in another block hash than the stored fill's, or in its own
    while the block is still canonical, deleted the fill by (tx, log_index) and no catch-up
    brought it back: it is refused and logged. Each notice follows its log on the socket, so
    once every notice is refused, every log was handled: counted per fill instead, a fill
    that came twice ended the wait before the last log was stored."""
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    devnet.configure(bogus_removals=style)
    start = devnet.head() + 1
    end = devnet.mine(blocks=4, fills_per_block=10)["head"]
    truth = devnet.truth(start, end)
    expected = leader_fills(truth, set(leaders))
    notices = fill_notices(truth, set(leaders))
    wait_for(  # the devnet counts every log's removal, position transfers' too
        lambda: devnet.stats()["untrusted"].get(f"bogus_removals_{style}", 0) >= notices,
        SETTLE_S,
        f"{notices} bogus removals sent",
    )
    wait_for(
        lambda: (h := watcher.health()) and h[1].get("removals_refused", 0) >= notices,
        SETTLE_S,
        f"{notices} removals refused",
    )
    status = watcher.wait_healthy()
    assert (status["removals_refused"], status["fills_retracted"]) == (notices, 0)
    assert set(stored(engine)) == expected


def start_with_cursor(start_watcher, devnet, engine, leaders: list[str], **settings):
    """A watcher whose startup gap-fill reconciled the last STARTUP_WINDOW blocks, so the
    store has a cursor (below the head by the devnet's finality depth) and a known first
    block: every later gap-fill, which starts at the cursor less the safety overlap, stays
    inside what the test compares. Returns the watcher and that first block."""
    devnet.mine(blocks=STARTUP_WINDOW, fills_per_block=2)  # a window deep enough
    first_block = devnet.head() - STARTUP_WINDOW + 1
    watcher = start_watcher(
        leaders, backfill_on_startup="true", backfill_startup_blocks=STARTUP_WINDOW, **settings
    )
    gap_filled(watcher)
    with engine.connect() as conn:
        assert all(get_cursor(conn, name) is not None for name in ALL)
    return watcher, first_block


def gap_filled(watcher: WatcherProcess) -> dict:
    """The watcher's status once its first gap-fill completed."""
    return wait_for(
        lambda: (h := watcher.health()) and h[1]["gap_fills"] >= 1 and h[1],
        SETTLE_S,
        f"a gap-fill ({watcher.output()[-2000:]})",
    )


def truth_from(devnet, leaders, first_block: int) -> set:
    return leader_fills(devnet.truth(first_block, devnet.head()), set(leaders))


def exactly_the_truth(engine, devnet, leaders, first_block: int) -> dict:
    """Wait until the store holds exactly the truth's leader fills from `first_block` on."""
    end = devnet.head()
    return wait_until_stored(engine, leader_fills(devnet.truth(first_block, end), set(leaders)))


def test_single_flight_and_takeover(devnet, start_watcher, engine, leaders, tmp_path):
    """A standby that takes over gap-fills from the cursor, whatever
    POLYGON_BACKFILL_ON_STARTUP says: the fills mined while nobody watched are stored. Each
    watcher runs in a working directory of its own, as on two machines sharing one store."""
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    for directory in machines:
        directory.mkdir()
    first, first_block = start_with_cursor(start_watcher, devnet, engine, leaders, cwd=machines[0])
    second = start_watcher([], cwd=machines[1])  # POLYGON_BACKFILL_ON_STARTUP: default, false
    assert [Path(f"/proc/{w.proc.pid}/cwd").resolve() for w in (first, second)] == [
        m.resolve() for m in machines
    ]
    wait_for(
        lambda: "another watcher holds the lease" in second.output(),
        SETTLE_S,
        "the second watcher saying it waits",
    )
    assert second.health()[0] == 503
    devnet.mine(blocks=2, fills_per_block=10)
    exactly_the_truth(engine, devnet, leaders, first_block)  # the first, live
    second.proc.send_signal(signal.SIGSTOP)  # the standby cannot take over before the gap
    first.stop(signal.SIGKILL)
    devnet.mine(blocks=6, fills_per_block=10)  # nobody watching
    second.proc.send_signal(signal.SIGCONT)
    status = gap_filled(second)
    # the gap-fill came with the takeover, not after some later reconnect
    assert status["gap_fills"] == 1 and status["reconnects"] == 0
    assert stored(engine).keys() == truth_from(devnet, leaders, first_block)
    devnet.mine(blocks=2, fills_per_block=10)
    exactly_the_truth(engine, devnet, leaders, first_block)  # and live after the takeover
    # all of it in the shared store: nothing written where either watcher ran
    assert [list(directory.iterdir()) for directory in machines] == [[], []]


def test_restart_after_a_kill_catches_up_from_the_cursor(devnet, start_watcher, engine, leaders):
    """Killed, 62 blocks mined (more than the startup window), restarted with startup
    backfill on: the gap-fill starts at the cursor, not at the window, and leaves no hole."""
    first, first_block = start_with_cursor(start_watcher, devnet, engine, leaders)
    devnet.mine(blocks=2, fills_per_block=10)
    exactly_the_truth(engine, devnet, leaders, first_block)
    first.stop(signal.SIGKILL)
    devnet.mine(blocks=62, fills_per_block=4)
    again = start_watcher([], backfill_on_startup="true", backfill_startup_blocks=STARTUP_WINDOW)
    status = gap_filled(again)
    assert status["gap_fills"] == 1 and status["reconnects"] == 0  # the startup gap-fill
    rows = stored(engine)
    assert rows.keys() == truth_from(devnet, leaders, first_block)
    assert any(r["source"] == "backfill" for r in rows.values())


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_holder_whose_lock_connection_dies_stops_writing(
    devnet, start_watcher, engine, db_url, leaders
):
    """PostgreSQL: the holder's advisory-lock connection is terminated. The holder must stop
    writing at once (its writes are fenced), stand by, and the other watcher takes over."""
    first, first_block = start_with_cursor(start_watcher, devnet, engine, leaders)
    second = start_watcher([])
    wait_for(lambda: "another watcher holds" in second.output(), SETTLE_S, "the standby waiting")
    devnet.mine(blocks=2, fills_per_block=10)
    exactly_the_truth(engine, devnet, leaders, first_block)
    written_before = first.wait_healthy()["fills_written"]
    terminate_lock_holder(engine)
    devnet.mine(blocks=3, fills_per_block=10)  # both sockets deliver these
    wait_for(
        lambda: "stopped writing; standing by" in first.output(), SETTLE_S, "the first standing by"
    )
    second.wait_healthy()
    exactly_the_truth(engine, devnet, leaders, first_block)
    assert first.health()[0] == 503
    assert first.health()[1]["fills_written"] == written_before  # not one write after the loss
    # The first went back to waiting: it takes over when the second dies.
    second.stop(signal.SIGKILL)
    devnet.mine(blocks=2, fills_per_block=10)
    first.wait_healthy()
    exactly_the_truth(engine, devnet, leaders, first_block)


@one_store
def test_unhealthy_until_the_first_head(devnet, start_watcher, leaders):
    """Subscribed is not yet live: /healthz answers 503 and says why until a head arrives
    on the connection (it said healthy with no head at all)."""
    watcher = start_watcher(leaders)
    code, status = wait_for(
        lambda: (h := watcher.health()) and h[1]["connected"] and h, SETTLE_S, "subscribed"
    )
    assert (code, status["healthy"], status["last_head_number"]) == (503, False, None)
    assert status["reason"] == "no new head received on this connection yet"
    head = devnet.mine(blocks=1, fills_per_block=0)["head"]
    code, status = wait_for(lambda: (h := watcher.health()) and h[0] == 200 and h, SETTLE_S, "live")
    assert (status["healthy"], status["reason"], status["last_head_number"]) == (True, None, head)


@one_store
def test_health_turns_on_silence_and_back_after_reconnect(devnet, start_watcher, leaders):
    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    devnet.set_clock(0.2)
    devnet.configure(ws_silent=True)
    wait_for(lambda: (h := watcher.health()) and h[0] == 503, SETTLE_S, "unhealthy when silent")
    wait_for(lambda: watcher.health()[1]["reconnects"] >= 1, SETTLE_S, "a reconnect when silent")
    devnet.configure(ws_silent=False)
    status = watcher.wait_healthy()
    assert status["reconnects"] >= 1


@one_store
def test_a_leader_added_while_running_is_watched(devnet, start_watcher, engine, leaders):
    watcher = start_watcher(leaders[:1])
    watcher.wait_healthy()
    with engine.begin() as conn:
        add_leaders(conn, [leaders[1]])
    wait_for(lambda: watcher.health()[1]["leaders_watched"] == 2, SETTLE_S, "two leaders watched")
    start = devnet.head() + 1
    end = devnet.mine(blocks=5, fills_per_block=12)["head"]
    expected = leader_fills(devnet.truth(start, end), set(leaders[:2]))
    rows = wait_for(
        lambda: expected <= stored(engine).keys() and stored(engine),
        SETTLE_S,
        "the new leader's fills",
    )
    assert any(r["maker"] == leaders[1] or r["taker"] == leaders[1] for r in rows.values())


@one_store
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


@one_store
def test_watcher_reports_to_dagster(devnet, start_watcher, tmp_path, leaders):
    home = tmp_path / "dagster_home"
    home.mkdir()
    watcher = start_watcher(leaders, extra_env={"DAGSTER_HOME": str(home)})
    watcher.wait_healthy()
    devnet.mine(blocks=2, fills_per_block=10)
    instance = DagsterInstance.from_config(str(home))
    event = wait_for(
        lambda: instance.get_latest_materialization_event(LIVE_FILLS),
        SETTLE_S,
        "a live_fills materialization",
    )
    assert event.asset_materialization.metadata["fills_written_total"].value > 0
    assert instance.get_runs() == []  # reported, never launched


@one_store
def test_startup_backfill_only_when_asked(devnet, start_watcher, engine, leaders):
    start = devnet.head() + 1
    devnet.mine(blocks=10, fills_per_block=10)
    quiet = start_watcher(leaders)  # POLYGON_BACKFILL_ON_STARTUP defaults to false
    quiet.wait_healthy()
    assert not stored(engine)
    quiet.stop()
    end = devnet.head()  # past the empty block that brought `quiet` its first head
    eager = start_watcher([], backfill_on_startup="true", backfill_startup_blocks=5)
    window = leader_fills(devnet.truth(end - 4, end), set(leaders))
    rows = wait_for(
        lambda: (s := stored(engine)).keys() == window and s,
        SETTLE_S,
        "the last 5 blocks reconciled at startup",
    )
    assert {r["source"] for r in rows.values()} == {"backfill"}
    # its rows are written before the gap-fill is counted: wait for the count, then check it
    assert gap_filled(eager)["gap_fills"] == 1
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
    pipeline = PipelineResource.from_settings(load_settings())
    # used outside Dagster: resolved as Dagster resolves it for a step (EnvVars until then)
    ctx = pipeline.process_config_and_initialize().sync_context()
    reconcile(ctx, ALL, live_start, gap_end)
    ctx.close()
    result = live_feed_matches_reconciliation(build_asset_check_context(), pipeline=pipeline)
    missed = leader_fills(devnet.truth(live_end + 1, gap_end), set(leaders))
    assert not result.passed
    assert result.metadata["misses"].value == len(missed) > 0
    assert result.metadata["extras"].value == 0


@one_store
def test_heartbeat_check_follows_the_watcher(
    devnet, start_watcher, db_url, leaders, tmp_path, monkeypatch
):
    """The health sensor reports the heartbeat check without a run: passing while the watcher
    runs, failing once it stopped."""
    from dagster import DagsterInstance, build_sensor_context

    from polygon_pipeline.defs.live.watcher_health import watcher_health_sensor

    for key, value in environment(devnet, db_url).items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    resources = {"pipeline": PipelineResource.from_settings(load_settings())}
    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))

    def evaluation():
        tick = watcher_health_sensor(build_sensor_context(instance=instance, resources=resources))
        (found,) = tick.asset_events
        assert found.asset_key == LIVE_FILLS and found.check_name == "watcher_heartbeat_recent"
        return found

    watcher = start_watcher(leaders)
    watcher.wait_healthy()
    wait_for(lambda: evaluation().passed, SETTLE_S, "a passing heartbeat check")
    watcher.stop()
    stopped = evaluation()
    assert not stopped.passed and stopped.metadata["status"].value["connected"] is False


SHUTDOWN_BOUND_S = 30  # a hang check, not a timing claim: a clean stop takes about a second


def reconnect_attempts(watcher: WatcherProcess) -> list[int]:
    """The attempt number of every reconnect the watcher logged, in order."""
    return [int(n) for n in re.findall(r"reconnect attempt (\d+) in", watcher.output())]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_while_reconnecting_exits(devnet, start_watcher, leaders):
    """The provider's WebSocket refuses connections: the watcher backs off (up to a long
    cap) and still stops at once on SIGTERM, exit status 0."""
    closed = f"ws://127.0.0.1:{free_port()}/"
    watcher = start_watcher(
        leaders, extra_env={"POLYGON_WS_URL": closed}, watch_reconnect_max_s=600
    )
    wait_for(lambda: len(reconnect_attempts(watcher)) >= 4, SETTLE_S, "four failed attempts")
    assert reconnect_attempts(watcher)[:4] == [1, 2, 3, 4]  # the back-off grows
    assert watcher.stop(signal.SIGTERM, timeout=SHUTDOWN_BOUND_S) == 0
    assert "watcher stopped" in watcher.output()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigint_during_a_long_gap_fill_exits_and_the_next_resumes(
    devnet, start_watcher, engine, leaders
):
    """A fresh store's startup gap-fill that would take a minute at 1 request/s stops on
    SIGINT after its chunk in progress, leaving a cursor; the next start resumes from it and
    the store ends up exactly the truth of the whole window."""
    devnet.mine(blocks=300, fills_per_block=1)
    first_block = devnet.head() - 300 + 1
    window = {"backfill_on_startup": "true", "backfill_startup_blocks": 300}
    watcher = start_watcher(
        leaders,
        backfill_max_range=10,  # 30 chunks, 2 queries each: about 60 s at 1 request/s
        rpc_max_rps=1,
        **window,
    )
    wait_for(
        lambda: devnet.stats()["calls"].get("eth_getLogs", 0) >= 4,
        SETTLE_S,
        "the gap-fill underway",
    )
    assert watcher.stop(signal.SIGINT, timeout=SHUTDOWN_BOUND_S) == 0
    assert "gap-fill stopped" in watcher.output() and "watcher stopped" in watcher.output()
    assert devnet.stats()["calls"]["eth_getLogs"] < 60  # it did not run to the end
    assert stored(engine).keys() < truth_from(devnet, leaders, first_block)
    with engine.connect() as conn:
        assert all(get_cursor(conn, name) is not None for name in ALL)
    again = start_watcher([], backfill_safety_overlap=0, **window)
    gap_filled(again)
    assert stored(engine).keys() == truth_from(devnet, leaders, first_block)


@one_store
def test_backoff_starts_over_after_a_healthy_session(devnet, start_watcher, leaders):
    """A flapping socket (dropped sooner than POLYGON_WATCH_RECONNECT_MAX_S) climbs the
    back-off; once a session stays healthy that long, the next drop is attempt 1 again."""
    watcher = start_watcher(leaders)  # reconnect cap 1 s (WATCH_SETTINGS)
    watcher.wait_healthy()
    devnet.configure(ws_drop_every_s=0.3)
    wait_for(lambda: len(reconnect_attempts(watcher)) >= 4, SETTLE_S, "four drops in a row")
    devnet.configure(ws_drop_every_s=None)
    assert reconnect_attempts(watcher)[:4] == [1, 2, 3, 4]
    watcher.wait_healthy()  # a head on the new connection (the devnet mines on request)
    wait_for(
        lambda: (h := watcher.health()) and h[0] == 200 and h[1]["reconnect_attempt"] == 0,
        SETTLE_S,
        "a healthy session resetting the back-off",
    )
    before = len(reconnect_attempts(watcher))
    drops = devnet.stats()["ws_drops"]
    devnet.configure(ws_drop_every_s=2)  # the current session is older: dropped at once
    wait_for(lambda: devnet.stats()["ws_drops"] > drops, SETTLE_S, "one more drop")
    devnet.configure(ws_drop_every_s=None)
    wait_for(lambda: len(reconnect_attempts(watcher)) > before, SETTLE_S, "the reconnect logged")
    assert reconnect_attempts(watcher)[before] == 1
    watcher.wait_healthy()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("host", "port", "reason"),
    [("192.0.2.1", "0", "assign"), ("no-such-host.invalid", "0", "")],
)
def test_an_unbindable_health_address_is_one_line(devnet, db_url, host, port, reason):
    env = environment(devnet, db_url, watch_health_host=host, watch_health_port=port)
    out = subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", "watch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"Error: POLYGON_WATCH_HEALTH_HOST/_PORT: cannot listen on {host}:")
    assert reason in line
