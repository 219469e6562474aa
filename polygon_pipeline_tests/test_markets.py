"""Markets and readable trades against the devnet's Gamma stand-in: every leader order fill
listed once with the question and outcome the stand-in holds, within the call bound and the
stand-in's budget, on a devnet of its own trading V1, V2 and ExchangeV3 (Protocol V2
position ids); unknown ids never hold up the fills; Parquet exports read back exact."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter

import pandas as pd
import pytest
from dagster import (
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    evaluate_automation_conditions,
    materialize,
)

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.defs import defs
from polygon_pipeline.defs.fills.partitions import EXCHANGE_NAMES, cell_key, window_partitions
from polygon_pipeline.defs.markets.assets import leader_trades, markets
from polygon_pipeline.defs.markets.exports import window_exports
from polygon_pipeline.defs.reports.daily_summaries import leader_daily_summaries
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.devnet.handle import start_devnet
from polygon_pipeline.devnet.market_catalogue import (
    DevnetMarket,
    market_of_token,
)
from polygon_pipeline.gamma.position_ids import V2_VENUES
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.markets_repo import fetch_markets, market_counts
from polygon_pipeline.sync.context import GammaContext
from polygon_pipeline.sync.exports import export_window
from polygon_pipeline.sync.markets import sync_markets
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline.sync.window_keys import window_key
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.markets import MARKETS, expected_market, is_position_id
from polygon_pipeline_tests.helpers.sync import environment, one_store

CUTOVER = 30  # V2 and ExchangeV3 trade from here
MINED = 70
ALL = list(EXCHANGES)
BATCH = 50


@pytest.fixture(scope="module")
def devnet_session(tmp_path_factory):
    """A devnet of this module's own, trading every layout, its fills final."""
    handle = start_devnet(tmp_path_factory.mktemp("markets"), "--layout-blocks", f"v2={CUTOVER}")
    handle.mine(blocks=MINED, fills_per_block=8)
    handle.mine(blocks=FINALITY + 2)
    yield handle
    handle.stop()


@pytest.fixture
def backfilled(devnet, make_ctx, leaders):
    """The finalized range reconciled into a fresh store; the stand-in's defaults restored."""
    ctx = make_ctx(leaders)
    report = reconcile(ctx, ALL, 0, devnet.head() - FINALITY)
    ctx.close()
    yield report.to_block
    devnet.gamma(
        max_rps=20.0, fault_5xx_rate=0.0, unknown_share=0.0, closed_needs_flag=False, page_size=50
    )


def _leader_orders(devnet, leaders, to_block: int) -> dict[tuple[str, int], dict]:
    """The truth's leader order fills (the leader is the maker) that are trades."""
    return {
        (r["tx_hash"], r["log_index"]): r
        for r in devnet.truth(0, to_block)
        if r["maker"] in set(leaders) and trade_of(r)
    }


def _trades_csv(env) -> list[dict]:
    result = run_cli("trades", "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_trades_list_every_leader_order_fill_once_with_its_market(
    devnet, db_url, leaders, backfilled
):
    """The done-when: Gamma throttling at 2 requests/s and failing 10 % of answers."""
    devnet.gamma(max_rps=2.0, fault_5xx_rate=0.1, reset_counters=True)
    env = environment(devnet, db_url, gamma_max_rps=2)
    sync = run_cli("markets", "sync", env=env)
    assert sync.returncode == 0, sync.stderr
    assert "0 unknown, 0 failed" in sync.stdout, sync.stdout

    truth = _leader_orders(devnet, leaders, backfilled)
    rows = _trades_csv(env)
    keys = Counter((r["tx_hash"], int(r["log_index"])) for r in rows)
    assert set(keys) == set(truth) and max(keys.values()) == 1
    for row in rows:
        fill = truth[(row["tx_hash"], int(row["log_index"]))]
        view = trade_of(fill)
        question, outcome = expected_market(fill["token_id"])
        assert (row["question"], row["outcome"]) == (question, outcome)
        assert (row["leader"], row["side"]) == (fill["maker"], view.side)
        assert (row["price"], row["size"]) == (_plain(view.price), _plain(view.size))
        assert row["notional_usd"] == _plain(view.collateral)

    tokens = {r["token_id"]: r["venue"] in V2_VENUES for r in truth.values()}
    held = devnet.positions(to_block=backfilled)  # the leaders' position tokens are looked up too
    tokens |= {int(t): is_position_id(int(t)) for per in held.values() for t in per}
    v2 = sum(tokens.values())
    batches = math.ceil((len(tokens) - v2) / BATCH) + math.ceil(v2 / BATCH)
    stats = devnet.gamma()
    retries = stats["throttled"] + stats["faults"]
    assert stats["requests"] <= batches + retries
    assert stats["throttled"] == 0 and stats["peak_rps_served"] <= 2


def _plain(value) -> str:
    return format(value.normalize(), "f")


def test_unknown_ids_leave_market_fields_empty_and_wait_to_be_tried_again(
    devnet, db_url, leaders, backfilled, monkeypatch
):
    """A third of the markets unknown: their fills are listed with empty market fields, the
    ids are recorded as misses and not asked again on the next sync (not due yet)."""
    devnet.gamma(unknown_share=0.35, reset_counters=True)
    for key, value in environment(devnet, db_url).items():
        monkeypatch.setenv(key, value)
    with GammaContext.from_settings(load_settings()) as ctx:
        first = sync_markets(ctx)
        assert first.unknown > 0 and first.outcomes_saved > 0
        asked = devnet.gamma()["requests"]
        again = sync_markets(ctx)
        assert (again.tokens, devnet.gamma()["requests"]) == (0, asked)
        with ctx.engine.connect() as conn:
            assert market_counts(conn)["unknown"] == first.unknown
    rows = _trades_csv(environment(devnet, db_url))
    assert len(rows) == len(_leader_orders(devnet, leaders, backfilled))
    assert any(r["question"] == "" for r in rows) and any(r["question"] for r in rows)


def test_closed_markets_asked_with_closed_true_when_gamma_leaves_them_out(
    devnet, db_url, leaders, backfilled, monkeypatch
):
    devnet.gamma(closed_needs_flag=True, page_size=3, reset_counters=True)
    for key, value in environment(devnet, db_url).items():
        monkeypatch.setenv(key, value)
    with GammaContext.from_settings(load_settings()) as ctx:
        report = sync_markets(ctx)
        with ctx.engine.connect() as conn:
            states = {m["state"] for m in fetch_markets(conn)}
            stored = {m["token_id"]: m for m in fetch_markets(conn)}
    assert report.unknown == 0 and {"open", "closed", "resolved"} <= states
    for token, market in stored.items():
        index = market_of_token(token, MARKETS)
        assert market["question"] == DevnetMarket(index).question
        assert market["neg_risk"] == (index % 3 == 0)
    assert devnet.gamma()["requests"] > report.batches  # pages and the closed=true follow-ups


def test_parquet_exports_read_back_equal_to_the_store(
    devnet, db_url, leaders, backfilled, monkeypatch, tmp_path
):
    for key, value in environment(devnet, db_url).items():
        monkeypatch.setenv(key, value)
    with GammaContext.from_settings(load_settings()) as ctx:
        sync_markets(ctx)
        export = export_window(ctx.engine, tmp_path, "w", 0, backfilled)
        with ctx.engine.connect() as conn:
            stored = fetch_fills(conn)
    frame = pd.read_parquet(export.fills_path)
    assert len(frame) == len(stored) == export.fills
    for row, fill in zip(frame.to_dict("records"), stored, strict=True):
        for name in ("token_id", "maker_amount", "taker_amount", "fee", "maker_asset_id"):
            assert int(row[name]) == fill[name]  # exact, 256-bit ids included
        assert row["block_timestamp"].to_pydatetime() == fill["block_timestamp"]
        assert str(row["block_timestamp"].tz) == "UTC"

    out = tmp_path / "trades.parquet"
    result = run_cli(
        "trades", "--format", "parquet", "--out", str(out), env=environment(devnet, db_url)
    )
    assert result.returncode == 0, result.stderr
    trades = pd.read_parquet(out).to_dict("records")
    truth = _leader_orders(devnet, leaders, backfilled)
    assert len(trades) == len(truth)
    for row in trades:
        fill = truth[(row["tx_hash"], row["log_index"])]
        assert int(row["token_id"]) == fill["token_id"]
        assert row["notional_usd"] == trade_of(fill).collateral  # decimal128: exact
        assert row["size"] == trade_of(fill).size


@one_store
def test_dagster_assets_look_up_markets_list_trades_and_export_a_window(
    devnet, db_url, leaders, backfilled, monkeypatch, tmp_path
):
    """markets, leader_trades, the window export and the summaries' per-market notional,
    materialized as the definitions run them (leader_fills is upstream, already stored)."""
    for key, value in environment(devnet, db_url, export_dir=tmp_path / "exports").items():
        monkeypatch.setenv(key, value)
    devnet.gamma(reset_counters=True)
    instance = DagsterInstance.ephemeral()
    key = window_key(0, backfilled + 1)
    instance.add_dynamic_partitions(window_partitions.name, [key])
    resources = {"pipeline": PipelineResource.from_settings(load_settings())}
    result = materialize(
        [markets, leader_trades, leader_daily_summaries], instance=instance, resources=resources
    )
    assert result.success
    looked_up = result.asset_materializations_for_node("markets")[0].metadata
    assert looked_up["tokens_looked_up"].value > 0 and looked_up["unknown"].value == 0
    assert looked_up["gamma_requests"].value == devnet.gamma()["requests"]
    listed = result.asset_materializations_for_node("leader_trades")[0].metadata
    truth = _leader_orders(devnet, leaders, backfilled)
    assert (listed["trades"].value, listed["market_unknown"].value) == (len(truth), 0)
    assert "Will devnet event" in listed["latest"].value  # names in the UI
    summaries = result.asset_materializations_for_node("leader_daily_summaries")[0].metadata
    assert "Will devnet event" in summaries["per_market_notional"].value

    exported = materialize(
        [window_exports], instance=instance, resources=resources, partition_key=key
    )
    assert exported.success
    frame = pd.read_parquet(tmp_path / "exports" / "trades")  # the directory, as a user would
    assert len(frame) == len(truth) and set(frame["window"]) == {key}
    assert set(frame["question"]) == {expected_market(r["token_id"])[0] for r in truth.values()}


@one_store
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--leader", "0xnot-an-address"], "--leader"),
        (["--since", "24h", "--from-block", "5"], "not both"),
        (["--format", "parquet"], "--out FILE"),
        (["--since", "yesterday"], "duration"),
    ],
)
def test_bad_trades_options_are_one_line(devnet, db_url, args, says):
    result = run_cli("trades", *args, env=environment(devnet, db_url))
    assert result.returncode == 2 and says in result.stderr
    assert "Traceback" not in result.stderr


def test_a_window_is_exported_once_its_fills_are_stored(tmp_path):
    """window_exports' automation: a leader_fills window materialized on every exchange (and
    markets known) requests that window's export, and no other."""
    instance = DagsterInstance.ephemeral()
    keys = [window_key(0, 50), window_key(50, 50)]
    instance.add_dynamic_partitions(window_partitions.name, keys)
    selection = AssetSelection.assets(window_exports)

    def requested(cursor=None):
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=cursor
        )
        return result.get_requested_partitions(window_exports.key), result.cursor

    nothing, cursor = requested()
    assert nothing == set()
    instance.report_runless_asset_event(AssetMaterialization("markets"))
    for exchange in EXCHANGE_NAMES:  # every cell of the window (the ledgers' column too)
        cell = cell_key(exchange, keys[1])
        instance.report_runless_asset_event(AssetMaterialization("leader_fills", partition=cell))
    due, _ = requested(cursor)
    assert due == {keys[1]}


@one_store
def test_only_open_markets_are_looked_up_again(devnet, db_url, backfilled, monkeypatch):
    """Once known, a closed or resolved market is never asked again; an open one is, once its
    refresh is due (here at once)."""
    for key, value in environment(devnet, db_url).items():
        monkeypatch.setenv(key, value)
    with GammaContext.from_settings(load_settings()) as ctx:
        sync_markets(ctx)
        with ctx.engine.connect() as conn:
            known = fetch_markets(conn)
        open_ids = {m["token_id"] for m in known if m["state"] == "open"}
        assert open_ids and len(open_ids) < len(known)
        devnet.gamma(reset_counters=True)
        again = sync_markets(ctx, refresh_open_s=0)
    assert again.tokens == len(open_ids) == devnet.gamma()["ids_asked"]


@one_store
def test_a_key_in_the_gamma_url_is_never_shown(devnet, db_url, backfilled):
    """Throttled and failing answers from a Gamma URL with a key in its path: the key
    appears nowhere in what `markets sync` prints or logs."""
    key = "gk_7Qw9sEcretPath"
    devnet.gamma(max_rps=1.0, fault_5xx_rate=0.5, reset_counters=True)
    env = environment(
        devnet, db_url, gamma_api_url=f"{devnet.gamma_api_url}/{key}", gamma_max_rps=50
    )
    result = run_cli("markets", "sync", env=env)
    assert result.returncode == 0, result.stderr
    assert devnet.gamma()["throttled"] > 0 and "throttled" in result.stderr
    assert key not in result.stdout + result.stderr
