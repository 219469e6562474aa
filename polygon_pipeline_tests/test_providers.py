"""Several providers (issue 24): a devnet with two emulators in front of one chain; failover
of backfills and of the watcher when the first goes down, and the audit that finds the logs
a provider leaves out. Counts come from the emulators' own counters."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from polygon_pipeline.devnet.anvil import FINALITY_DEPTH
from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.devnet.handle import DevnetHandle, start_devnet
from polygon_pipeline.redact import provider_labels
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.schema import fills, range_providers
from polygon_pipeline_tests.helpers.cli import cli_env, run_cli
from polygon_pipeline_tests.helpers.sync import leader_fills, one_store
from polygon_pipeline_tests.helpers.watcher_process import (
    SETTLE_S,
    WATCH_SETTINGS,
    WatcherProcess,
    wait_for,
)

TRADING_BLOCKS = 60
CAP_RPS = 20  # each emulator's own budget; the pipeline is given the same per provider


@pytest.fixture(scope="module")
def duo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetHandle]:
    """A devnet with two providers and a history: TRADING_BLOCKS blocks of trades, then
    enough empty blocks that all of them are final."""
    handle = start_devnet(tmp_path_factory.mktemp("duo"), "--providers", "2")
    handle.mine(TRADING_BLOCKS, fills_per_block=8)
    handle.mine(FINALITY_DEPTH + 2, fills_per_block=0)
    yield handle
    handle.stop()


@pytest.fixture
def providers(duo: DevnetHandle) -> Iterator[DevnetHandle]:
    """Both providers with the default policy and a budget of CAP_RPS, counters zeroed."""
    for n in (0, 1):
        duo.configure_provider(n, **{**Policy().as_dict(), "max_rps": CAP_RPS})
        duo.reset_provider_stats(n)
    yield duo
    for n in (0, 1):
        duo.configure_provider(n, **Policy().as_dict())


def _env(duo: DevnetHandle, db_url: str, urls: list[str] | None = None) -> dict[str, str]:
    env = duo.pipeline_env(
        db_url,
        rpc_max_rps=CAP_RPS,
        rpc_max_concurrency=4,
        partition_window_blocks=20,
        backfill_max_range=10,
        provider_set_aside_s=30,
    )
    if urls is not None:  # the first provider alone, as a single-provider user has it
        env.pop("POLYGON_RPC_URLS")
        env.pop("POLYGON_WS_URLS")
        env["POLYGON_RPC_URL"] = urls[0]
    return env


def _stored(db_url: str) -> set[tuple[str, int]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {(r.tx_hash, r.log_index) for r in conn.execute(select(fills))}
    finally:
        engine.dispose()


def _truth(duo: DevnetHandle) -> set[tuple[str, int]]:
    return leader_fills(duo.truth(0, TRADING_BLOCKS + 10), set(duo.info()["leaders"]))


def _ok(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_audit_reports_exactly_the_fills_a_provider_left_out(providers, db_url):
    duo = providers
    rpc_urls = duo.env["POLYGON_RPC_URLS"].split(",")
    labels = provider_labels(rpc_urls)
    duo.configure_provider(0, omit_logs_share=0.05)
    alone, both = _env(duo, db_url, rpc_urls), _env(duo, db_url)
    _ok(run_cli("leaders", "add", *duo.info()["leaders"], env=alone))
    _ok(run_cli("backfill", "--from-block", "0", env=alone))
    truth = _truth(duo)
    left_out = {(tx, i) for tx, i in duo.provider_stats(0)["omitted_logs"]} & truth
    assert left_out, "5 % of this history is some fills: the fault must have bitten"
    assert truth - _stored(db_url) == left_out  # the store has the hole, and nothing else

    result = run_cli("audit", "--from-block", "0", env=both)
    assert result.returncode == 1, result.stdout + result.stderr  # a window differed
    reported = {
        (line.split()[1].split(":")[0], int(line.split(":")[-1]))
        for line in result.stdout.splitlines()
        if line.strip().startswith("missing:")
    }
    assert reported == left_out
    assert _stored(db_url) == truth
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(range_providers)).all()
    engine.dispose()
    assert rows and {r.filled_by for r in rows} == {labels[0]}
    assert {r.audited_by for r in rows} == {labels[1]}
    # No provider saw more than its cap, by its own counters.
    assert all(duo.provider_stats(n)["peak_rps_received"] <= CAP_RPS for n in (0, 1))

    again = run_cli("audit", "--from-block", "0", env=both)
    assert "0 repaired" in _ok(again)


def _stored_from(db_url: str, first_block: int) -> set[tuple[str, int]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            query = select(fills.c.tx_hash, fills.c.log_index).where(
                fills.c.block_number >= first_block
            )
            return {(r.tx_hash, r.log_index) for r in conn.execute(query)}
    finally:
        engine.dispose()


def test_a_backfill_goes_on_at_the_second_provider_when_the_first_goes_down(
    providers, db_url, tmp_path
):
    duo = providers
    # Slow enough to be stopped in the middle: one block a chunk, a few calls a second.
    env = {**_env(duo, db_url), "POLYGON_BACKFILL_MAX_RANGE": "1", "POLYGON_RPC_MAX_RPS": "8"}
    _ok(run_cli("leaders", "add", *duo.info()["leaders"], env=env))
    log = open(tmp_path / "backfill.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polygon_pipeline",
            "backfill",
            "--from-block",
            "0",
            "--to-block",
            str(TRADING_BLOCKS + 10),
        ],
        env=cli_env(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: duo.provider_stats(0)["served"].get("eth_getLogs", 0) >= 10,
            SETTLE_S,
            "the backfill under way at the first provider",
        )
        duo.configure_provider(0, down=True)
        assert proc.wait(timeout=SETTLE_S) == 0, (tmp_path / "backfill.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert _stored(db_url) == _truth(duo)
    first, second = duo.provider_stats(0), duo.provider_stats(1)
    assert first["faults"].get("503", 0) >= 1  # it was down, and asked
    assert second["served"].get("eth_getLogs", 0) >= 1  # the rest came from the second
    assert all(s["peak_rps_received"] <= CAP_RPS for s in (first, second))


@one_store
def test_the_watcher_moves_to_the_second_provider_when_its_socket_dies(providers, db_url, tmp_path):
    duo = providers
    labels = provider_labels(duo.env["POLYGON_WS_URLS"].split(","))
    env = {
        **_env(duo, db_url),
        **{f"POLYGON_{k.upper()}": str(v) for k, v in WATCH_SETTINGS.items()},
        "POLYGON_RPC_MAX_RPS": str(CAP_RPS),
    }
    _ok(run_cli("leaders", "add", *duo.info()["leaders"], env=env))
    start = duo.head() + 1
    watcher = WatcherProcess(cli_env(env), tmp_path / "watcher.log", devnet=duo)
    try:
        watcher.wait_healthy()
        duo.mine(3, fills_per_block=8)
        wait_for(lambda: _stored_from(db_url, start), SETTLE_S, "live fills at the first")
        duo.configure_provider(0, down=True)  # its sockets close, new ones are refused
        duo.mine(3, fills_per_block=8)  # while the watcher switches
        wait_for(
            lambda: (
                f'polygon_pipeline_watcher_ws_provider{{provider="{labels[1]}"}}'
                in watcher.metrics()
            ),
            SETTLE_S,
            f"the switch in /metrics ({watcher.output()[-2000:]})",
        )
        duo.mine(2, fills_per_block=8)
        truth = leader_fills(duo.truth(start), set(duo.info()["leaders"]))
        wait_for(
            lambda: _stored_from(db_url, start) == truth,
            SETTLE_S,
            f"every fill since the watcher started ({watcher.output()[-2000:]})",
        )
        metrics = watcher.metrics()
        assert "polygon_pipeline_watcher_provider_switches 1.0" in metrics
        assert duo.provider_stats(1)["ws_connections"] >= 1
    finally:
        watcher.stop()
    assert all(duo.provider_stats(n)["peak_rps_received"] <= CAP_RPS for n in (0, 1))


@one_store
def test_a_lagging_provider_is_set_aside(providers, db_url):
    duo = providers
    duo.configure_provider(0, head_lag_blocks=40)  # the first, preferred one, 40 behind
    env = _env(duo, db_url)  # POLYGON_PROVIDER_MAX_LAG_BLOCKS: 10 by default
    _ok(run_cli("leaders", "add", *duo.info()["leaders"], env=env))
    _ok(run_cli("backfill", "--from-block", "0", "--to-block", "20", env=env))
    assert duo.provider_stats(0)["served"].get("eth_getLogs", 0) == 0
    assert duo.provider_stats(1)["served"].get("eth_getLogs", 0) > 0
    assert _stored(db_url) == leader_fills(duo.truth(0, 20), set(duo.info()["leaders"]))


@one_store
def test_the_dagster_check_audits_each_window_of_a_run(providers, db_url, monkeypatch, tmp_path):
    from dagster import DagsterInstance, materialize

    from polygon_pipeline.defs.audit.checks import windows_agree_with_a_second_provider
    from polygon_pipeline.defs.fills.assets import leader_fills
    from polygon_pipeline.defs.fills.partitions import cell_key, window_partitions
    from polygon_pipeline.defs.resources import PipelineResource
    from polygon_pipeline.settings import load_settings
    from polygon_pipeline.sync.window_keys import window_key

    duo = providers
    duo.configure_provider(0, omit_logs_share=0.05)  # the first, preferred, fills with holes
    for key, value in _env(duo, db_url).items():
        if key.startswith("POLYGON_"):
            monkeypatch.setenv(key, value)
    _ok(run_cli("leaders", "add", *duo.info()["leaders"], env=_env(duo, db_url)))
    keys = [window_key(0, 20), window_key(20, 20)]
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path))
    instance.add_dynamic_partitions(window_partitions.name, keys)
    result = materialize(
        [leader_fills, windows_agree_with_a_second_provider],
        instance=instance,
        tags={  # both windows on every exchange
            "dagster/asset_partition_range_start": cell_key("ctf", keys[0]),
            "dagster/asset_partition_range_end": cell_key("v3", keys[-1]),
        },
        resources={"pipeline": PipelineResource.from_settings(load_settings())},
    )
    (check,) = result.get_asset_check_evaluations()
    truth = leader_fills_of(duo, 0, 39)
    left_out = {(tx, i) for tx, i in duo.provider_stats(0)["omitted_logs"]} & truth
    assert left_out
    assert not check.passed
    assert check.metadata["missing_fills_written"].value == len(left_out)
    windows = check.metadata["windows"].value
    assert set(windows) == set(keys)
    assert all(
        w["audited_by"] == provider_labels(duo.env["POLYGON_RPC_URLS"].split(","))[1]
        for w in windows.values()
    )
    assert _stored(db_url) == truth


def leader_fills_of(duo: DevnetHandle, lo: int, hi: int) -> set[tuple[str, int]]:
    return leader_fills(duo.truth(lo, hi), set(duo.info()["leaders"]))


@one_store
def test_a_provider_that_throttles_hard_hands_its_calls_to_the_other(providers, db_url):
    duo = providers
    # The first answers its next 50 calls with 429 and Retry-After: 60.
    duo.configure_provider(0, fault_plan=["429"] * 50, planned_retry_after_s=60)
    env = _env(duo, db_url)
    _ok(run_cli("leaders", "add", *duo.info()["leaders"], env=env))
    _ok(run_cli("backfill", "--from-block", "0", "--to-block", "30", env=env))
    first, second = duo.provider_stats(0), duo.provider_stats(1)
    assert first["http_429"] >= 1
    assert first["served"].get("eth_getLogs", 0) == 0  # paused: nothing sent there after
    assert second["served"].get("eth_getLogs", 0) > 0
    assert _stored(db_url) == leader_fills_of(duo, 0, 30)
