"""API mode against the devnet's Data API stand-in: the poller, the comparator, and proof
from the emulator's counters that neither adds RPC load."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from polygon_pipeline.chain.exchanges import MAINNET_VENUES
from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.devnet.handle import DevnetHandle, start_devnet
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.api_trades_repo import fetch_api_trades
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.api_poller import poll_once
from polygon_pipeline.sync.compare import compare_sources
from polygon_pipeline.sync.context import ApiContext
from polygon_pipeline_tests.helpers.rpc import node_block
from polygon_pipeline_tests.helpers.sync import environment, one_store
from polygon_pipeline_tests.helpers.watcher_process import (
    SETTLE_S,
    WATCH_SETTINGS,
    WatcherProcess,
    wait_for,
)


def leader_trades(truth: list[dict], leaders: set[str], omitted: set) -> set:
    """What the Data API should list: fills whose maker is a leader, less the omitted."""
    return {
        (r["tx_hash"], r["log_index"])
        for r in truth
        if r["maker"] in leaders and (r["tx_hash"], r["log_index"]) not in omitted and trade_of(r)
    }


def omitted_keys(devnet) -> set:
    return {(o["tx_hash"], o["log_index"]) for o in devnet.data_api()["omitted"]}


@pytest.fixture(scope="module")
def devnet_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetHandle]:
    """A devnet of this module's own, started fresh. These tests time two live feeds of one
    chain against each other; a parallel worker's shared devnet carries whatever earlier test
    files did to it (the comparator test once waited in vain for one trade there, never
    alone)."""
    handle = start_devnet(tmp_path_factory.mktemp("api_mode_devnet"))
    yield handle
    handle.stop()


@pytest.fixture
def api_env(devnet, db_url, leaders, monkeypatch):
    env = environment(devnet, db_url, data_api_max_rps=50, data_api_page_size=5)
    for key, value in env.items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders)
    yield env, engine
    engine.dispose()
    devnet.data_api(
        delay_s=5.0, omit_share=0.0, max_rps=20.0, max_offset=10_000, retry_after_s=None
    )


def test_stand_in_delays_omits_pages_and_throttles(devnet, leaders):
    devnet.data_api(delay_s=1.0, omit_share=0.3, max_rps=1000)
    start = devnet.head() + 1
    end = devnet.mine(blocks=4, fills_per_block=12)["head"]
    url = f"{devnet.data_api_url}/trades"

    def listed(user: str, **params) -> set:
        query = {"user": user, "limit": 500, "takerOnly": "false", **params}
        trades = requests.get(url, params=query, timeout=10).json()
        return {t["transactionHash"] for t in trades}

    new_txs = {r["tx_hash"] for r in devnet.truth(start, end)}
    assert not any(listed(u) & new_txs for u in leaders)  # not indexed yet
    time.sleep(1.2)
    expected = leader_trades(devnet.truth(start, end), set(leaders), omitted_keys(devnet))
    got = set().union(*(listed(u) & new_txs for u in leaders))
    assert got == {tx for tx, _ in expected}
    # As the real API: without takerOnly=false only the user's taker orders are listed (their
    # own fill names the exchange as taker); a leader's resting maker orders are left out.
    exchange_addresses = {v.address for v in MAINNET_VENUES}
    taker_orders = {
        r["tx_hash"]
        for r in devnet.truth(start, end)
        if r["maker"] in leaders and r["taker"] in exchange_addresses
    }
    default = set().union(*(listed(u, takerOnly=None) & new_txs for u in leaders))
    assert default <= taker_orders and default < got
    refused_offset = requests.get(url, params={"user": leaders[0], "offset": 10_001}, timeout=10)
    assert refused_offset.status_code == 400 and "offset" in refused_offset.text
    assert omitted_keys(devnet)  # some were dropped, and the stand-in says which
    page = requests.get(
        url, params={"user": leaders[0], "limit": 2, "offset": 1}, timeout=10
    ).json()
    assert len(page) <= 2
    devnet.data_api(max_rps=2)
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda _: requests.get(url, params={"user": leaders[0]}, timeout=10), range(12)
            )
        )
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(int(a.headers["Retry-After"]) >= 1 for a in refused)


def test_poller_is_incremental_and_makes_no_rpc(devnet, api_env, leaders, monkeypatch):
    monkeypatch.setenv("POLYGON_DATA_API_OVERLAP_S", "0")  # no re-reading behind the cursor
    devnet.data_api(delay_s=0.0, omit_share=0.2, max_rps=1000)
    start_time = datetime.now(tz=UTC)
    start = devnet.head() + 1
    end = devnet.mine(blocks=5, fills_per_block=12)["head"]
    devnet.reset_stats()
    with ApiContext.from_settings(load_settings()) as api:
        first = poll_once(api)
        assert first.new_trades >= len(
            leader_trades(devnet.truth(start, end), set(leaders), omitted_keys(devnet))
        )
        requests_before = devnet.data_api()["requests"]
        second = poll_once(api)
    assert second.new_trades == 0
    # only what is new: a page per leader (one more where a block's trades fill a page)
    assert len(leaders) <= devnet.data_api()["requests"] - requests_before < 2 * len(leaders)
    assert first.pages > second.pages
    assert devnet.stats()["calls_total"] == 0  # API mode never touched the RPC
    _, engine = api_env
    result = compare_sources(engine, start_time)  # no chain feed ran: nothing to match
    with engine.connect() as conn:
        since_start = fetch_api_trades(conn, start_time)
    assert (result.matched, result.only_chain, result.only_api) == (0, 0, len(since_start))


@one_store
def test_poller_pages_past_the_offset_ceiling_by_time_window(devnet, api_env, leaders, monkeypatch):
    # The stand-in refuses offsets past 30 here (10,000 on the real API): a leader with more
    # trades than that is read on by windows ending at the oldest trade seen.
    ceiling, page = 30, 5
    monkeypatch.setenv("POLYGON_DATA_API_MAX_OFFSET", str(ceiling))
    devnet.data_api(delay_s=0.0, omit_share=0.0, max_rps=1000, max_offset=ceiling)
    start = devnet.head() + 1
    for _ in range(8):  # a few blocks a second, so no second holds a window's worth
        devnet.mine(blocks=5, fills_per_block=40)
        time.sleep(1.1)
    truth = devnet.truth(start, devnet.head())
    expected = {(r["maker"], r["tx_hash"]) for r in truth if r["maker"] in leaders and trade_of(r)}
    per_leader = Counter(maker for maker, _ in expected)
    per_second = Counter((r["maker"], r["block_timestamp"]) for r in truth)
    assert max(per_leader.values()) > ceiling + page  # deeper than the offset ceiling
    assert max(per_second.values()) <= ceiling - page  # a window always moves on
    with ApiContext.from_settings(load_settings()) as api:
        poll_once(api)
    _, engine = api_env
    with engine.connect() as conn:
        stored = {(t["leader"], t["tx_hash"]) for t in fetch_api_trades(conn)}
    assert {pair for pair in stored if pair[1] in {tx for _, tx in expected}} == expected


@one_store
def _stamp(devnet, number: int) -> int:
    return int(node_block(devnet, hex(number))["timestamp"], 16)


def _counted_from(devnet, first: int) -> tuple[datetime, int]:
    """`since` from the chain's clock, not the wall clock (a block may be stamped seconds
    behind the moment it is mined: 3 s once under four test workers), and the first block the
    comparison counts from it: blocks mined within one second may share a stamp, so an
    earlier block stamped like `first` is counted too."""
    stamp = _stamp(devnet, first)
    start = first
    while start > 1 and _stamp(devnet, start - 1) >= stamp:
        start -= 1
    return datetime.fromtimestamp(stamp, tz=UTC), start


def test_comparator_reports_the_known_delay_and_omissions(devnet, api_env, leaders, tmp_path):
    env, engine = api_env
    delay = 3.0
    devnet.data_api(delay_s=delay, omit_share=0.5, max_rps=1000)  # surely some omitted
    watcher = WatcherProcess(
        {**env, **{f"POLYGON_{k.upper()}": str(v) for k, v in WATCH_SETTINGS.items()}},
        tmp_path / "watcher.log",
        devnet=devnet,
    )
    poller = subprocess.Popen(
        [sys.executable, "-m", "polygon_pipeline", "api-poll"],
        env={**env, "POLYGON_DATA_API_POLL_S": "0.3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        watcher.wait_healthy()
        first = devnet.head() + 1
        devnet.set_clock(1.0)
        time.sleep(10)
        devnet.set_clock(None)
        end = devnet.head()
        since, start = _counted_from(devnet, first)
        omitted = omitted_keys(devnet)
        expected = leader_trades(devnet.truth(start, end), set(leaders), omitted)
        missing = leader_trades(devnet.truth(start, end), set(leaders), set()) - expected
        wait_for(
            lambda: compare_sources(engine, since).matched >= len(expected),
            delay + SETTLE_S,  # a state, awaited as long as a loaded machine needs
            f"{len(expected)} trades matched",
        )
    finally:
        poller.terminate()
        poller.wait(timeout=30)
        watcher.stop()
    result = compare_sources(engine, since)
    pct = result.percentiles()
    assert (result.matched, result.only_chain, result.only_api) == (len(expected), len(missing), 0)
    assert len(missing) > 0
    # The stand-in shows a trade `delay` after its block at the earliest; how much later each
    # source saw it depends on the machine's load (BENCHMARKS.md, benchmark 7, measures it).
    assert 0 <= pct["chain"][50] < delay <= pct["api"][50]
    assert pct["lead"][50] > 0
    assert result.png().startswith(b"\x89PNG")


@one_store
def test_comparison_asset_calls_no_provider(devnet, api_env, db_url, leaders, tmp_path):
    from dagster import DagsterInstance, materialize

    from polygon_pipeline.defs.api_mode.assets import source_comparison
    from polygon_pipeline.defs.resources import PipelineResource

    devnet.data_api(delay_s=0.0, omit_share=0.0, max_rps=1000)
    devnet.mine(blocks=3, fills_per_block=10)
    with ApiContext.from_settings(load_settings()) as api:
        poll_once(api)
    devnet.reset_stats()
    api_requests = devnet.data_api()["requests"]
    result = materialize(
        [source_comparison],
        instance=DagsterInstance.ephemeral(tempdir=str(tmp_path)),
        resources={"pipeline": PipelineResource.from_settings(load_settings())},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("source_comparison")[0].metadata
    assert metadata["only_in_api"].value > 0  # no chain fills stored here: all API-only
    assert "data:image/png;base64," in metadata["comparison"].value
    assert devnet.stats()["calls_total"] == 0
    assert devnet.data_api()["requests"] == api_requests


@one_store
def test_compare_cli_prints_the_table(api_env):
    env, _ = api_env
    out = subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", "compare", "--since", "2h"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "only in API" in out.stdout and "p50" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", "compare", "--since", "yesterday"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "duration like 30m" in bad.stderr


API_POLL = [sys.executable, "-m", "polygon_pipeline", "api-poll"]
LONG_RETRY_AFTER_S = 240  # the stand-in's Retry-After; the limiter honours up to 300 s
STOP_BOUND_S = 60  # a hang check well inside that window, not a timing claim


@one_store
@pytest.mark.parametrize(
    ("once", "sig", "status"),
    [
        (False, signal.SIGTERM, 0),
        (False, signal.SIGINT, 0),
        (True, signal.SIGTERM, 143),
        (True, signal.SIGINT, 130),
    ],
)
def test_api_poll_stops_at_once_while_it_waits_out_a_retry_after(
    devnet, api_env, once, sig, status
):
    """Every Data API request is told to come back in four minutes. SIGTERM or Ctrl-C stops
    the poller at once (the daemon went only at the demo's SIGKILL; `--once` waited the
    pause out): one line, a daemon's normal end (0) or the shell's status for a one-shot
    command whose work is not done, and nothing sent after the pause."""
    env, _ = api_env
    devnet.data_api(max_rps=0, retry_after_s=LONG_RETRY_AFTER_S)  # every request throttled
    before = devnet.data_api()["throttled"]
    proc = subprocess.Popen(
        API_POLL + (["--once"] if once else []),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: proc.poll() is not None or devnet.data_api()["throttled"] > before,
            SETTLE_S,
            "a throttled Data API request",
        )
        assert proc.poll() is None, proc.communicate()
        requests_sent = devnet.data_api()["requests"]
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=STOP_BOUND_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    kept = "the trades stored so far are kept" + ("; rerun to finish" if once else "")
    assert stderr.strip().splitlines()[-1] == f"stopped by {sig.name}: {kept}"
    assert devnet.data_api()["requests"] == requests_sent  # none sent after the pause


@one_store
def test_api_poll_reports_api_trades_to_dagster(devnet, api_env, tmp_path):
    """The daemon's trades show in Dagster as materializations of the Definitions'
    `api_trades` asset, without a run (it said "Never materialized" while trades poured in)."""
    from dagster import DagsterInstance

    from polygon_pipeline.defs.api_mode.assets import api_trades

    env, engine = api_env
    devnet.data_api(delay_s=0.0, omit_share=0.0, max_rps=1000)
    devnet.mine(blocks=3, fills_per_block=10)
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = DagsterInstance.from_config(str(home))
    assert instance.get_latest_materialization_event(api_trades.key) is None
    proc = subprocess.Popen(
        API_POLL,
        env={**env, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        event = wait_for(
            lambda: instance.get_latest_materialization_event(api_trades.key),
            SETTLE_S,
            "an api_trades materialization",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=STOP_BOUND_S)
    with engine.connect() as conn:
        stored = len(fetch_api_trades(conn))
    assert stored > 0
    # The first poll stored every trade the stand-in shows (no block was mined since).
    assert event.asset_materialization.metadata["trades_written_total"].value == stored
    assert instance.get_runs() == []  # reported, never launched
