"""The Dagster layer with Dagster's own test helpers, against the devnet and both databases:
runs over the exchange x window grid reconcile exactly their cells (several windows per run,
the exchanges of a window in one filter), windows are registered ascending from the origin,
the sensors and schedules do what they say, the checks can fail and do when they should."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import dagster._core.definitions.policy as dagster_policy
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs import defs
from polygon_pipeline.defs.api_mode.assets import source_comparison
from polygon_pipeline.defs.fills.assets import BLOCK_SECONDS_MAX, freshness_policy, leader_fills
from polygon_pipeline.defs.fills.automation import block_windows_sensor, reconcile_recent_schedule
from polygon_pipeline.defs.fills.checks import (
    CELL_CHECKS,
    live_feed_matches_reconciliation,
    no_coverage_gaps,
)
from polygon_pipeline.defs.fills.jobs import reconcile_recent_job
from polygon_pipeline.defs.fills.partitions import cell_key, grid_partitions, window_partitions
from polygon_pipeline.defs.live.watcher_health import watcher_health_sensor
from polygon_pipeline.defs.loaded_settings import DEFINITION_SETTINGS
from polygon_pipeline.defs.policies import RECENT_POOL, RPC_POOL, RPC_TAG
from polygon_pipeline.defs.reports.daily_summaries import leader_daily_summaries
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.heartbeats_repo import beat
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.daily_summaries import daily_summaries
from polygon_pipeline.sync.watcher_status import WATCHER_ROLE
from polygon_pipeline.sync.window_keys import register_through, window_key, window_origin
from polygon_pipeline_tests.helpers.sync import environment, mine_sparse, one_store
from polygon_pipeline_tests.helpers.sync import leader_fills as truth_fills

WINDOW = 20
RANGE = 15  # POLYGON_BACKFILL_MAX_RANGE where calls are counted: windows apart would differ
ROLES = 2  # maker and taker: one query each per chunk (the devnet's leaders fit one batch)
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
CHECKS = (no_coverage_gaps, live_feed_matches_reconciliation)


@pytest.fixture
def dagster_env(devnet, db_url, leaders, monkeypatch, tmp_path):
    """Environment, leaders loaded, a temporary Dagster instance."""
    for key, value in environment(devnet, db_url).items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("POLYGON_PARTITION_WINDOW_BLOCKS", str(WINDOW))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders)
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path))  # schedules need its ref
    yield {"engine": engine, "instance": instance}
    engine.dispose()


def _resources() -> dict:
    """The resource on the settings of the moment (a test may change one after the fixture),
    as the definitions hand it the settings they load with."""
    return {"pipeline": PipelineResource.from_settings(load_settings())}


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


def _register(instance, keys: list[str]) -> None:
    instance.add_dynamic_partitions(window_partitions.name, keys)


def _range(keys: list[str], exchanges=tuple(EXCHANGES)) -> dict:
    """The tags of a run over the rectangle `exchanges` x `keys` of the grid."""
    ends = (cell_key(exchanges[0], keys[0]), cell_key(exchanges[-1], keys[-1]))
    return dict(zip(RANGE_TAGS, ends, strict=True))


def _materialize(
    dagster_env, keys: list[str], *assets, exchanges=tuple(EXCHANGES), extra_tags=None, **kwargs
):
    """One run over the windows `keys` of `exchanges` (a range, as a backfill's run gets it)."""
    return materialize(
        [leader_fills, *assets],
        instance=dagster_env["instance"],
        tags={**_range(keys, exchanges), **(extra_tags or {})},
        resources=_resources(),
        **kwargs,
    )


def _by_cell(result) -> dict:
    """Each cell's materialization metadata in a run."""
    return {m.partition: m.metadata for m in result.asset_materializations_for_node("leader_fills")}


def _by_window(result, exchange: str = "ctf") -> dict:
    """One exchange's cells' metadata, by window."""
    return {
        key.split("|")[1]: metadata
        for key, metadata in _by_cell(result).items()
        if key.startswith(f"{exchange}|")
    }


def _window_truth(devnet, leaders, lo: int, hi: int, exchanges=tuple(EXCHANGES)) -> set:
    truth = [r for r in devnet.truth(lo, hi) if r["exchange"] in exchanges]
    return truth_fills(truth, set(leaders))


def test_one_run_reconciles_several_windows_on_every_exchange(
    devnet, dagster_env, leaders, monkeypatch
):
    monkeypatch.setenv("POLYGON_BACKFILL_MAX_RANGE", str(RANGE))
    lo, hi = _closed_windows(devnet, 3)
    keys = _windows(lo, 3)
    _register(dagster_env["instance"], keys)
    devnet.reset_stats()
    result = _materialize(dagster_env, keys)
    assert result.success
    cells = _by_cell(result)
    assert sorted(cells) == sorted(cell_key(x, k) for x in EXCHANGES for k in keys)
    for exchange in EXCHANGES:  # each cell reports its own figures
        for i, key in enumerate(keys):
            w_lo = lo + i * WINDOW
            own = _window_truth(devnet, leaders, w_lo, w_lo + WINDOW - 1, (exchange,))
            metadata = cells[cell_key(exchange, key)]
            assert metadata["block_range"].value == f"{w_lo}..{w_lo + WINDOW - 1}"
            assert metadata["fills_found"].value == metadata["fills_written"].value == len(own)
            assert metadata["run_cells"].value == 3 * len(EXCHANGES)
            assert metadata["run_block_ranges"].value == f"{lo}..{hi}"  # windows merged
    total = sum(m["fills_found"].value for m in cells.values())
    assert total == cells[cell_key("ctf", keys[0])]["run_fills_found"].value > 0
    assert _stored(dagster_env["engine"]) == _window_truth(devnet, leaders, lo, hi)
    # The provider saw one query per chunk of the merged range and role (maker, taker), every
    # exchange in each: 60 blocks in chunks of 15 (windows apart: 6 chunks, exchanges apart:
    # three times as many).
    stats = devnet.stats()
    assert stats["range_errors"] == 0
    assert stats["calls"]["eth_getLogs"] == -(-(hi - lo + 1) // RANGE) * ROLES


def test_one_exchange_stores_only_its_own_and_costs_no_more(
    devnet, dagster_env, leaders, monkeypatch
):
    """A run of negrisk's windows stores negrisk's fills and nothing else, records coverage
    for negrisk's venues only, and costs what all exchanges together cost."""
    monkeypatch.setenv("POLYGON_BACKFILL_MAX_RANGE", str(RANGE))
    lo, hi = _closed_windows(devnet, 2)
    keys = _windows(lo, 2)
    _register(dagster_env["instance"], keys)
    devnet.reset_stats()
    result = _materialize(dagster_env, keys, *CELL_CHECKS, *CHECKS, exchanges=("negrisk",))
    assert result.success
    assert sorted(_by_cell(result)) == [cell_key("negrisk", k) for k in keys]
    engine = dagster_env["engine"]
    assert _stored(engine) == _window_truth(devnet, leaders, lo, hi, ("negrisk",))
    assert _stored(engine)  # the devnet trades on negrisk there
    assert devnet.stats()["calls"]["eth_getLogs"] == -(-(hi - lo + 1) // RANGE) * ROLES
    with engine.connect() as conn:
        assert get_cursor(conn, "ctf") is None and get_cursor(conn, "v3") is None
        assert get_cursor(conn, "negrisk") == hi
    whole = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.partition}
    assert all(e.passed for e in whole.values()) and len(whole) == 2  # on negrisk only
    evaluations = [e for e in result.get_asset_check_evaluations() if e.partition]
    assert sorted((e.check_name, e.partition) for e in evaluations) == sorted(
        (name, cell_key("negrisk", k))
        for name in ("window_coverage_complete", "window_live_feed_matches")
        for k in keys
    )
    assert all(e.passed for e in evaluations)
    # then every exchange: the other two are added, negrisk is reconciled again
    devnet.reset_stats()
    assert _materialize(dagster_env, keys).success
    assert _stored(engine) == _window_truth(devnet, leaders, lo, hi)
    assert devnet.stats()["calls"]["eth_getLogs"] == -(-(hi - lo + 1) // RANGE) * ROLES


@one_store
def test_a_late_window_fails_alone_and_the_final_ones_are_stored(devnet, dagster_env, leaders):
    instance = dagster_env["instance"]
    lo, hi = _closed_windows(devnet, 2)
    late = window_key(hi + 1, WINDOW)  # the head is FINALITY blocks past hi: not final yet
    keys = [*_windows(lo, 2), late]
    _register(instance, keys)
    result = _materialize(dagster_env, keys, exchanges=("ctf",), raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "not finalized yet" in message and late in message and keys[0] not in message
    assert DagsterEventType.STEP_UP_FOR_RETRY not in {e.event_type for e in result.all_events}
    cells = [cell_key("ctf", k) for k in keys]
    status = instance.get_status_by_partition(leader_fills.key, cells, grid_partitions)
    assert [status[k].value for k in cells] == ["MATERIALIZED", "MATERIALIZED", "FAILED"]
    assert _stored(dagster_env["engine"]) == _window_truth(devnet, leaders, lo, hi, ("ctf",))
    alone = _materialize(dagster_env, [late], raise_on_error=False)  # nothing final in it
    (failure,) = alone.get_step_failure_events()
    assert "not finalized yet" in failure.step_failure_data.error.message
    assert DagsterEventType.STEP_UP_FOR_RETRY not in {e.event_type for e in alone.all_events}


@one_store
def test_a_retry_reconciles_only_what_is_not_stored_yet(devnet, dagster_env, leaders, monkeypatch):
    monkeypatch.setenv("POLYGON_BACKFILL_MAX_RANGE", str(RANGE))
    lo, hi = _closed_windows(devnet, 2)
    keys = _windows(lo, 2)
    _register(dagster_env["instance"], keys)
    assert _materialize(dagster_env, keys[:1]).success  # an attempt that stored one window
    devnet.reset_stats()
    retry = _materialize(dagster_env, keys, extra_tags={"dagster/retry_number": "1"})
    assert retry.success
    by_key = _by_window(retry)
    assert by_key[keys[0]]["reconciled_by"].value.startswith("an earlier attempt")
    assert by_key[keys[1]]["reconciled_by"].value == "this run"
    assert by_key[keys[0]]["fills_written"].value == 0
    assert by_key[keys[0]]["fills_found"].value == len(
        _window_truth(devnet, leaders, lo, lo + WINDOW - 1, ("ctf",))
    )
    # only the second window was asked for
    assert devnet.stats()["calls"]["eth_getLogs"] == -(-WINDOW // RANGE) * ROLES
    assert _stored(dagster_env["engine"]) == _window_truth(devnet, leaders, lo, hi)


@one_store
def test_a_malformed_key_in_a_run_is_skipped_and_reported(devnet, dagster_env, leaders):
    instance = dagster_env["instance"]
    lo, hi = _closed_windows(devnet, 1)
    (key,) = _windows(lo, 1)
    _register(instance, [key, "not-a-window"])  # the second: a UI typo
    result = _materialize(dagster_env, [key, "not-a-window"], *CHECKS, exchanges=("ctf",))
    assert result.success
    by_key = _by_window(result)
    assert by_key["not-a-window"]["skipped"].value == "not a block window key"
    assert by_key[key]["fills_found"].value == len(_window_truth(devnet, leaders, lo, hi, ("ctf",)))
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    coverage = checks["no_coverage_gaps"]
    assert not coverage.passed
    assert coverage.metadata["bad_window_keys"].value == ["ctf|not-a-window"]
    assert checks["live_feed_matches_reconciliation"].passed


def _attempts(result) -> list:
    """The step's starts and retries: one start and no retry when a failure is final."""
    kinds = (DagsterEventType.STEP_START, DagsterEventType.STEP_UP_FOR_RETRY)
    return [e.event_type for e in result.all_events if e.event_type in kinds]


@one_store
def test_a_retry_after_every_window_was_stored_ends_cleanly(devnet, dagster_env, leaders):
    """A run retried (run_retries) after its windows were all committed has nothing to do:
    it succeeds, calls no provider and says the earlier attempt stored them."""
    lo, hi = _closed_windows(devnet, 2)
    keys = _windows(lo, 2)
    _register(dagster_env["instance"], keys)
    assert _materialize(dagster_env, keys).success
    devnet.reset_stats()
    retry = _materialize(dagster_env, keys, extra_tags={"dagster/retry_number": "1"})
    assert retry.success and _attempts(retry) == [DagsterEventType.STEP_START]
    for key, metadata in _by_cell(retry).items():
        assert metadata["reconciled_by"].value.startswith("an earlier attempt"), key
        assert metadata["fills_written"].value == 0
        assert metadata["run_eth_getLogs_calls"].value == 0
        assert metadata["run_block_ranges"].value == "-"
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0
    assert _stored(dagster_env["engine"]) == _window_truth(devnet, leaders, lo, hi)


@one_store
def test_a_run_of_malformed_keys_only_fails_once_and_says_why(dagster_env):
    instance = dagster_env["instance"]
    _register(instance, ["not-a-window"])  # a UI typo
    result = materialize(
        [leader_fills],
        instance=instance,
        partition_key="ctf|not-a-window",
        resources=_resources(),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "not block window key(s): 'ctf|not-a-window'" in message
    assert "nothing reconciled" in message
    assert _attempts(result) == [DagsterEventType.STEP_START]  # not retried


@one_store
def test_a_rejected_key_fails_the_run_once(devnet, dagster_env):
    """A provider refusing the key (HTTP 401, JSON-RPC -32000) is not worth retrying: the step
    fails on its first attempt with the (scrubbed) refusal, not after minutes of retries."""
    lo, _ = _closed_windows(devnet)
    keys = _windows(lo, 1)
    _register(dagster_env["instance"], keys)
    devnet.configure(echo_key=True)
    devnet.reset_stats()
    result = _materialize(dagster_env, keys, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "the provider refused" in message and "invalid API key '***'" in message
    assert devnet.rpc_url.rstrip("/").rsplit("/", 1)[1] not in message
    assert _attempts(result) == [DagsterEventType.STEP_START]
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0  # refused at the first call


@one_store
def test_a_window_run_writes_no_lone_fabricated_log(devnet, dagster_env, leaders, monkeypatch):
    """A made-up log alone in its block, with a timestamp of its own, in the first answer:
    the attempt fails on its block's header and writes nothing; the retry stores the truth."""
    monkeypatch.setattr(dagster_policy, "random", lambda: 0.0)  # first retry at once, not 0-60 s
    start = devnet.head() + 1
    lo = start + (-start) % WINDOW
    if lo > start:
        devnet.mine(blocks=lo - start, fills_per_block=0)
    lo, hi = mine_sparse(devnet, WINDOW // 2)
    keys = _windows(lo, 1)
    _register(dagster_env["instance"], keys)
    devnet.configure(fabricate_lone_logs=1)
    result = _materialize(dagster_env, keys)
    assert result.success and devnet.stats()["untrusted"]["fabricate_lone_logs"] == 1
    (retried,) = [
        e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert "which the node does not know at that number" in str(retried.event_specific_data)
    assert _stored(dagster_env["engine"]) == _window_truth(devnet, leaders, lo, hi)


@one_store
def test_checks_of_a_single_window_run_look_at_that_window_only(devnet, dagster_env):
    instance = dagster_env["instance"]
    lo, _ = _closed_windows(devnet, 3)
    oldest, older, newer = _windows(lo, 3)
    _register(instance, [oldest, older, newer])
    assert _materialize(dagster_env, [oldest]).success
    result = _materialize(dagster_env, [newer], *CHECKS, *CELL_CHECKS)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.partition}
    coverage = checks["no_coverage_gaps"]
    # the window between was never reconciled: a check over everything would fail on it
    assert coverage.passed, coverage.metadata
    scope = f"this run's windows, blocks {lo + 2 * WINDOW}..{lo + 3 * WINDOW - 1}"
    assert coverage.metadata["scope"].value == scope
    cells = {(e.check_name, e.partition): e.passed for e in result.get_asset_check_evaluations()}
    assert {k for k in cells if k[1]} == {
        (name, cell_key(x, newer))
        for name in ("window_coverage_complete", "window_live_feed_matches")
        for x in EXCHANGES
    }
    assert all(cells.values())
    alone = _fill_checks(instance)["no_coverage_gaps"]
    assert not alone.passed, alone.metadata  # on its own, it sees the hole


def _cell_checks(dagster_env, keys: list[str], exchanges) -> dict:
    """The cells' checks run on their own (as from the UI's check page) over a rectangle."""
    result = materialize(
        list(CELL_CHECKS),
        instance=dagster_env["instance"],
        tags=_range(keys, exchanges),
        resources=_resources(),
        selection=AssetSelection.checks(*CELL_CHECKS),
    )
    return {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}


@one_store
def test_cell_checks_fail_on_a_coverage_hole_and_on_a_missed_live_fill(
    devnet, dagster_env, leaders
):
    """Real defects in one cell fail that cell's check, and no other: a coverage hole (a
    range's record lost), and a fill the live watcher stored that reconciliation did not
    keep (its block left the chain after the watcher saw it)."""
    from sqlalchemy import delete, insert

    from polygon_pipeline.store.schema import live_sightings, reconciled_ranges

    lo, hi = _closed_windows(devnet, 2)
    keys = _windows(lo, 2)
    _register(dagster_env["instance"], keys)
    assert _materialize(dagster_env, keys, exchanges=("ctf", "negrisk")).success
    engine = dagster_env["engine"]
    seen = datetime.now(tz=UTC)
    with engine.begin() as conn:  # the live feed saw every fill stored, and one more
        rows = [
            {k: f[k] for k in ("chain_id", "tx_hash", "log_index", "exchange", "block_number")}
            for f in fetch_fills(conn)
        ]
        dropped = {**rows[0], "tx_hash": "0x" + "ab" * 32, "exchange": "ctf", "block_number": lo}
        conn.execute(insert(live_sightings), [{**r, "seen_at": seen} for r in rows])
    before = _cell_checks(dagster_env, keys, ("ctf", "negrisk"))
    assert len(before) == 2 * 2 * 2 and all(e.passed for e in before.values())
    with engine.begin() as conn:
        conn.execute(insert(live_sightings).values(**dropped, seen_at=seen))
        # negrisk's record of what was reconciled is lost: a hole over both its windows
        conn.execute(delete(reconciled_ranges).where(reconciled_ranges.c.exchange == "negrisk"))
    after = _cell_checks(dagster_env, keys, ("ctf", "negrisk"))
    failed = {k for k, e in after.items() if not e.passed}
    assert failed == {
        ("window_coverage_complete", cell_key("negrisk", keys[0])),
        ("window_coverage_complete", cell_key("negrisk", keys[1])),
        ("window_live_feed_matches", cell_key("ctf", keys[0])),
    }
    hole = after[("window_coverage_complete", cell_key("negrisk", keys[1]))]
    assert hole.metadata["holes"].value == [[lo + WINDOW, hi]]
    live = after[("window_live_feed_matches", cell_key("ctf", keys[0]))]
    assert (live.metadata["extras"].value, live.metadata["misses"].value) == (1, 0)


@one_store
def test_windows_are_appended_ascending_from_the_origin(devnet, dagster_env, monkeypatch):
    """No window is ever inserted before another: from the origin (the first venue's
    window), each registration appends what follows the newest."""
    instance = dagster_env["instance"]
    origin = window_origin(load_settings())
    assert origin == min(v.first_block for v in load_settings().venues) // WINDOW * WINDOW
    devnet.mine(blocks=max(1, origin + 3 * WINDOW + FINALITY - devnet.head()))
    first = register_through(instance, origin, WINDOW, origin + 3 * WINDOW - 1)
    assert first.added == [window_key(origin + i * WINDOW, WINDOW) for i in range(3)]
    assert _materialize(dagster_env, first.added[2:], exchanges=("ctf",)).success
    _register(instance, ["not-a-window"])  # a UI typo
    more = register_through(instance, origin, WINDOW, origin + 5 * WINDOW + 3)
    assert more.added == [window_key(origin + i * WINDOW, WINDOW) for i in (3, 4)]
    assert more.dropped == ["not-a-window"] and "not-a-window" in more.summary()
    again = register_through(instance, origin, WINDOW, origin + 5 * WINDOW - 1)
    assert not again.added and again.newest == more.newest
    keys = list(instance.get_dynamic_partitions(window_partitions.name))
    assert keys == [window_key(origin + i * WINDOW, WINDOW) for i in range(5)] == sorted(keys)
    assert instance.get_materialized_partitions(leader_fills.key) == {
        cell_key("ctf", first.added[2])
    }
    monkeypatch.setenv("POLYGON_PARTITIONS_START_BLOCK", str(origin + 7 * WINDOW + 1))
    assert window_origin(load_settings()) == origin  # where the sensor launches from, only


@one_store
def test_an_upgrade_keeps_registered_windows_and_fills(devnet, dagster_env, leaders, monkeypatch):
    """A deployment from before the grid: windows registered (from its start, above the
    origin), fills stored by window runs, materializations under window-only keys. After the
    upgrade its windows are the grid's columns, its fills are untouched, new windows are
    appended after its newest, and a backfill of its cells stores exactly the same fills."""
    from dagster import AssetMaterialization

    from polygon_pipeline.sync.windows import run_windows

    instance, engine = dagster_env["instance"], dagster_env["engine"]
    lo, hi = _closed_windows(devnet, 2)
    old = _windows(lo, 2)
    _register(instance, old)  # as the old sensor left them
    monkeypatch.setenv("POLYGON_PARTITIONS_START_BLOCK", str(lo))
    pipeline = PipelineResource.from_settings(load_settings()).process_config_and_initialize()
    with pipeline.sync_context() as ctx:  # the old window runs' work
        run_windows(ctx, dict(zip(old, [(lo, lo + WINDOW - 1), (lo + WINDOW, hi)], strict=True)))
    for key in old:  # and their materializations, under the old keys
        instance.report_runless_asset_event(AssetMaterialization(leader_fills.key, partition=key))
    stored = _stored(engine)
    assert stored == _window_truth(devnet, leaders, lo, hi)
    devnet.mine(blocks=WINDOW)
    devnet.mine(blocks=FINALITY)
    tick = _sensor(dagster_env, cursor=str(hi + 1))  # the old sensor's cursor
    keys = list(instance.get_dynamic_partitions(window_partitions.name))
    assert keys[:2] == old and keys[2] == window_key(hi + 1, WINDOW)  # appended after
    assert _requested(tick) == [_every_exchange(keys[2], keys[2])]
    assert _stored(engine) == stored  # untouched
    cells = [cell_key(x, k) for x in EXCHANGES for k in old]
    materialized = instance.get_materialized_partitions(leader_fills.key)
    assert not materialized & set(cells)  # shown missing until backfilled
    assert _materialize(dagster_env, old).success
    assert _stored(engine) == stored
    assert set(cells) <= instance.get_materialized_partitions(leader_fills.key)


def _sensor(dagster_env, cursor: str | None = None):
    context = build_sensor_context(
        instance=dagster_env["instance"], cursor=cursor, resources=_resources()
    )
    return block_windows_sensor(context)


def _requested(result) -> list[list[str]]:
    """The first and last cell of each run requested, in order."""
    return [[r.tags[RANGE_TAGS[0]], r.tags[RANGE_TAGS[1]]] for r in result.run_requests]


def _every_exchange(first: str, last: str) -> list[str]:
    return [cell_key(next(iter(EXCHANGES)), first), cell_key(list(EXCHANGES)[-1], last)]


@one_store
def test_sensor_registers_closed_windows_once(devnet, dagster_env, monkeypatch):
    lo, hi = _closed_windows(devnet)
    monkeypatch.setenv("POLYGON_PARTITIONS_START_BLOCK", str(lo))
    instance = dagster_env["instance"]
    result = _sensor(dagster_env)
    keys = list(instance.get_dynamic_partitions(window_partitions.name))
    assert keys[0] == window_key(window_origin(load_settings()), WINDOW) and keys == sorted(keys)
    assert window_key(lo, WINDOW) in keys
    assert int(keys[-1].split("-")[1]) <= devnet.head() - FINALITY < int(keys[-1][:10]) + 2 * WINDOW
    launched = keys[keys.index(window_key(lo, WINDOW)) :]
    assert _requested(result) == [_every_exchange(launched[0], launched[-1])]  # one run
    assert not _sensor(dagster_env, result.cursor).run_requests  # nothing requested twice
    devnet.mine(blocks=WINDOW)
    later = _sensor(dagster_env, result.cursor)
    new = window_key(int(result.cursor), WINDOW)
    assert _requested(later) == [_every_exchange(new, new)]
    assert list(instance.get_dynamic_partitions(window_partitions.name))[-1] == new


@one_store
def test_sensor_registers_history_from_the_origin_but_launches_only_new_windows(
    devnet, dagster_env
):
    """Without a start block the origin is the first venue's window: every window since is
    registered (a backfill's to take), and only the last closed ones are launched."""
    instance = dagster_env["instance"]
    _closed_windows(devnet, 2)
    result = _sensor(dagster_env)
    keys = list(instance.get_dynamic_partitions(window_partitions.name))
    assert keys[0] == window_key(window_origin(load_settings()), WINDOW) and len(keys) > 2
    ((first, last),) = _requested(result)
    assert last == _every_exchange(keys[-1], keys[-1])[1]
    assert first in {_every_exchange(key, key)[0] for key in keys[-2:]}  # the window before


@one_store
def test_sensor_puts_windows_closed_at_once_in_few_runs(devnet, dagster_env, monkeypatch):
    lo, _ = _closed_windows(devnet, 3)
    keys = _windows(lo, 3)
    monkeypatch.setenv("POLYGON_PARTITIONS_START_BLOCK", str(lo))
    monkeypatch.setenv("POLYGON_WINDOWS_PER_RUN", "2")
    result = _sensor(dagster_env)
    assert _requested(result)[:2] == [_every_exchange(*keys[:2]), _every_exchange(keys[2], keys[2])]
    first = result.run_requests[0]
    assert first.tags[RPC_TAG] == "windows" and first.run_key == f"{keys[0]}..{keys[1]}"
    run = defs.resolve_job_def("reconcile_windows").execute_in_process(
        instance=dagster_env["instance"], tags=first.tags, resources=_resources()
    )
    assert run.success
    assert sorted(_by_cell(run)) == sorted(cell_key(x, k) for x in EXCHANGES for k in keys[:2])
    # each cell's own checks are evaluated in the run; the whole-store checks are not
    evaluations = run.get_asset_check_evaluations()
    assert len(evaluations) == 2 * len(EXCHANGES) * 2 and all(e.partition for e in evaluations)
    assert all(e.passed for e in evaluations)


@one_store
def test_schedule_reconciles_from_the_cursor_first_and_once(devnet, dagster_env, leaders):
    instance = dagster_env["instance"]
    (request,) = reconcile_recent_schedule.evaluate_tick(
        build_schedule_context(instance=instance)
    ).run_requests
    assert request.tags["dagster/schedule_name"] == reconcile_recent_schedule.name
    # its own lane and pool: never behind a backfill's runs or steps (and ahead in the queue)
    assert reconcile_recent_job.tags == {RPC_TAG: "recent", "dagster/priority": "10"}
    (node,) = reconcile_recent_job.graph.node_defs
    assert node.pool == RECENT_POOL and leader_fills.op.pool == RPC_POOL != RECENT_POOL
    devnet.mine(blocks=10, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    first = reconcile_recent_job.execute_in_process(resources=_resources(), instance=instance)
    assert first.success
    start = devnet.head() + 1
    end = devnet.mine(blocks=8, fills_per_block=6)["head"]
    devnet.mine(blocks=FINALITY)
    second = reconcile_recent_job.execute_in_process(resources=_resources(), instance=instance)
    assert second.success
    assert truth_fills(devnet.truth(start, end), set(leaders)) <= _stored(dagster_env["engine"])
    observations = instance.fetch_observations(leader_fills.key, limit=10).records
    assert len(observations) == 2  # the lineage shows each mini-reconciliation
    instance.create_run_for_job(reconcile_recent_job, status=DagsterRunStatus.STARTED)
    skipped = reconcile_recent_schedule.evaluate_tick(build_schedule_context(instance=instance))
    assert not skipped.run_requests and "not finished" in skipped.skip_message


@one_store
def test_the_mini_reconciliation_does_not_chase_older_windows(devnet, dagster_env, leaders):
    """A window of older history reconciled below a hole pulls the cursor back to the hole;
    the mini-reconciliation still reads only from the newest registered window on (older
    windows are their runs' to reconcile), never the history in between."""
    instance = dagster_env["instance"]
    lo, hi = _closed_windows(devnet, count=4)
    newest = window_key(hi - WINDOW + 1, WINDOW)
    _register(instance, _windows(lo, 4))
    assert _materialize(dagster_env, [newest]).success
    assert _materialize(dagster_env, [_windows(lo, 1)[0]]).success  # history, with a hole
    with dagster_env["engine"].connect() as conn:
        assert get_cursor(conn, "ctf") == lo + WINDOW - 1  # held at the hole
    devnet.mine(blocks=10, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    devnet.reset_stats()
    result = reconcile_recent_job.execute_in_process(resources=_resources(), instance=instance)
    assert result.success
    (observation,) = instance.fetch_observations(leader_fills.key, limit=1).records
    ranges = observation.asset_observation.metadata["block_ranges"].value
    first = int(ranges.split("..")[0])
    assert first == hi + 1 - load_settings().backfill_safety_overlap > lo + 2 * WINDOW


def _fill_checks(instance):
    result = defs.resolve_job_def("fill_checks").execute_in_process(
        instance=instance, resources=_resources()
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_coverage_check_fails_on_holes_and_bad_keys(devnet, dagster_env):
    instance = dagster_env["instance"]
    lo, _ = _closed_windows(devnet, 3)
    first, second, third = _windows(lo, 3)
    _register(instance, [first, second, third])
    assert _materialize(dagster_env, [first]).success
    assert _materialize(dagster_env, [third]).success
    check = _fill_checks(instance)["no_coverage_gaps"]
    # the cursors reached the third window's end, but the second was never reconciled
    assert not check.passed
    assert check.metadata["blocks_missing"].value == len(EXCHANGES) * WINDOW
    assert check.metadata["first_window_start"].value == lo
    assert _materialize(dagster_env, [second]).success
    assert _fill_checks(instance)["no_coverage_gaps"].passed
    _register(instance, ["not-a-window"])  # a typo in the UI
    check = _fill_checks(instance)["no_coverage_gaps"]
    assert not check.passed and check.metadata["bad_window_keys"].value == ["not-a-window"]


@one_store
def test_watcher_health_is_reported_without_a_run(dagster_env):
    instance, resources = dagster_env["instance"], _resources()

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
    _register(dagster_env["instance"], keys)
    _materialize(dagster_env, keys)
    result = materialize(
        [leader_daily_summaries],
        instance=dagster_env["instance"],
        resources=_resources(),
    )
    assert result.success
    with dagster_env["engine"].connect() as conn:
        rows = [r for r in fetch_fills(conn) if r["maker"] in set(leaders)]
    table = daily_summaries(rows)
    assert table["trades"].sum() == len(rows)  # each leader order fill counted once
    assert (table["buys"] + table["sells"] == table["trades"]).all()


def _freshness(instance, at: datetime | None = None) -> FreshnessState:
    node = defs.resolve_asset_graph().get(leader_fills.key)
    evaluate = TimeWindowFreshnessPolicyEvaluator().evaluate_freshness
    with freeze_time(at or datetime.now(tz=UTC)):
        return asyncio.run(evaluate(context=LoadingContextForTest(instance), node=node))


@one_store
def test_freshness_of_leader_fills_follows_the_windows(devnet, dagster_env):
    instance = dagster_env["instance"]
    policy = leader_fills.specs_by_key[leader_fills.key].freshness_policy
    built = DEFINITION_SETTINGS  # what the definitions were loaded with
    assert policy == freshness_policy(built)
    # a window's run comes once its window has passed, its finality and a sensor interval
    window_s = built.partition_window_blocks * BLOCK_SECONDS_MAX
    due = window_s + built.confirmation_blocks * BLOCK_SECONDS_MAX + built.window_sensor_interval_s
    assert policy.warn_window.to_timedelta() > timedelta(seconds=due)
    assert policy.fail_window.to_timedelta() >= timedelta(seconds=2 * window_s)
    assert _freshness(instance) == FreshnessState.UNKNOWN  # never materialized
    lo, _ = _closed_windows(devnet)
    _register(instance, _windows(lo, 1))
    assert _materialize(dagster_env, _windows(lo, 1)).success
    now = datetime.now(tz=UTC)
    assert _freshness(instance, now) == FreshnessState.PASS
    # the next window's run is due: still fresh; one window late: warn; a window missed: fail
    assert _freshness(instance, now + timedelta(seconds=due)) == FreshnessState.PASS
    late = now + policy.warn_window.to_timedelta() + timedelta(seconds=1)
    assert _freshness(instance, late) == FreshnessState.WARN
    stale = now + policy.fail_window.to_timedelta() + timedelta(seconds=1)
    assert _freshness(instance, stale) == FreshnessState.FAIL


@one_store
def test_derived_assets_are_refreshed_every_15_minutes_unless_in_progress(dagster_env):
    instance = dagster_env["instance"]
    derived = AssetSelection.assets(leader_daily_summaries, source_comparison)
    derived_keys = (leader_daily_summaries.key, source_comparison.key)
    start = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)

    def requested(at: datetime, cursor=None):
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=derived, evaluation_time=at,
            cursor=cursor,
        )  # fmt: skip
        keys = {key for key in derived_keys if result.get_requested_partitions(key)}
        return keys, result.cursor

    first, cursor = requested(start)
    assert first == set()  # no 15-minute tick has passed since the sensor began
    same, cursor = requested(start + timedelta(minutes=10), cursor)
    assert same == set()  # 12:11: still before 12:15
    due, cursor = requested(start + timedelta(minutes=15), cursor)
    assert due == {leader_daily_summaries.key, source_comparison.key}  # 12:16
    instance.create_run_for_job(
        defs.resolve_implicit_global_asset_job_def(),
        status=DagsterRunStatus.STARTED,
        asset_selection=frozenset({leader_daily_summaries.key}),
    )
    busy, _ = requested(start + timedelta(minutes=30), cursor)
    assert busy == {source_comparison.key}  # not while a summaries run is in progress


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


def test_windows_register_command_appends_from_the_origin(tmp_path):
    from dagster import DagsterInstance

    from polygon_pipeline_tests.helpers.cli import run_cli

    home = tmp_path / "home"
    home.mkdir()
    env = {
        "DAGSTER_HOME": str(home),
        "POLYGON_PARTITION_WINDOW_BLOCKS": "100",
        "POLYGON_VENUE_BLOCKS": "ctf_v1=250..",  # the first venue's block
        "POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    first = run_cli("windows", "register", "--to-block", "450", env=env)
    assert first.returncode == 0, first.stderr
    assert "2 new window(s), registered through 0000000300-0000000399" in first.stdout
    more = run_cli("windows", "register", "--to-block", "699", env=env)
    assert more.returncode == 0 and "3 new window(s)" in more.stdout, more.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        keys = list(instance.get_dynamic_partitions(window_partitions.name))
    assert keys == [window_key(start, 100) for start in range(200, 700, 100)]
    no_home = run_cli("windows", "register", env={})
    assert no_home.returncode == 1 and "DAGSTER_HOME" in no_home.stderr
