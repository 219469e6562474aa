"""A store is never continued on another chain: two devnets (both chain id 137, like Polygon),
a store filled from the first, every writer pointed at the second refuses in one line and no
row changes; a store from before identities were recorded is checked by its fills."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import delete, select

from polygon_pipeline.defs.fills.assets import leader_fills
from polygon_pipeline.defs.fills.partitions import cell_key, window_partitions
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH
from polygon_pipeline.devnet.handle import DevnetHandle, start_devnet
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.schema import chain_identity, metadata
from polygon_pipeline.sync.window_keys import window_key
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.rpc import node_block
from polygon_pipeline_tests.helpers.sync import environment, one_store

# The shared budget's state is written by every request, the guard's own two included: it is
# the limiter's, not the store's data.
LIMITER_TABLES = {"rpc_limiter", "rpc_slots"}
FRESH_LEADER = "0x" + "5e" * 20


@pytest.fixture(scope="module")
def other_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetHandle]:
    """A second devnet: chain id 137 as well, another genesis."""
    handle = start_devnet(tmp_path_factory.mktemp("other_devnet"))
    yield handle
    handle.stop()


@pytest.fixture
def filled_store(devnet, leaders, db_url) -> str:
    """`db_url` filled by a real backfill of fresh blocks of the session's devnet (from its
    genesis, the backfill took more than run_cli's two minutes once on a devnet other test
    files had moved on, on a loaded machine)."""
    first = int(node_block(devnet)["number"], 16) + 1
    devnet.mine(blocks=6, fills_per_block=6)
    devnet.mine(blocks=FINALITY_DEPTH)
    env = environment(devnet, db_url)
    assert run_cli("leaders", "add", *leaders, env=env).returncode == 0
    backfill = run_cli("backfill", "--from-block", str(first), env=env)
    assert backfill.returncode == 0, backfill.stderr
    return db_url


def _rows(db_url: str) -> dict[str, list[tuple]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(map(tuple, conn.execute(select(table))), key=repr)
                for name, table in metadata.tables.items()
                if name not in LIMITER_TABLES
            }
    finally:
        engine.dispose()


def _genesis(devnet: DevnetHandle) -> str:
    return node_block(devnet, "0x0")["hash"]


def _refused_in_one_line(result, devnet, other_chain) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert _genesis(devnet)[:10] in lines[0] and _genesis(other_chain)[:10] in lines[0]
    assert "POLYGON_PIPELINE_DB_URL" in lines[0]


def test_every_writer_refuses_another_chain_and_changes_nothing(filled_store, devnet, other_chain):
    before = _rows(filled_store)
    assert before["fills"] and before["chain_identity"]
    there = environment(other_chain, filled_store, watch_health_port=0)
    _refused_in_one_line(run_cli("backfill", "--since-cursor", env=there), devnet, other_chain)
    _refused_in_one_line(
        run_cli("leaders", "add", FRESH_LEADER, "--history-from-block", "0", env=there),
        devnet,
        other_chain,
    )
    _refused_in_one_line(run_cli("watch", env=there), devnet, other_chain)
    doctor = run_cli("doctor", env=there)
    assert doctor.returncode == 1
    assert any(line.startswith("FAIL rpc") for line in doctor.stdout.splitlines())
    assert _rows(filled_store) == before


@one_store
def test_a_dagster_run_refuses_another_chain(
    filled_store, devnet, other_chain, tmp_path, monkeypatch
):
    for key, value in environment(other_chain, filled_store).items():
        monkeypatch.setenv(key, value)
    before = _rows(filled_store)
    key = window_key(0, 10)
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path))
    instance.add_dynamic_partitions(window_partitions.name, [key])
    result = materialize(
        [leader_fills],
        partition_key=cell_key("ctf", key),
        instance=instance,
        resources={"pipeline": PipelineResource.from_settings(load_settings())},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "was filled from chain 137" in failure.message and "not retried" in failure.message
    assert len(result.filter_events(lambda e: e.event_type_value == "STEP_START")) == 1
    assert _rows(filled_store) == before


@one_store
def test_a_store_from_before_identities_is_checked_by_its_fills(filled_store, devnet, other_chain):
    engine = make_engine(filled_store)
    with engine.begin() as conn:
        conn.execute(delete(chain_identity))  # as an older release left it
    before = _rows(filled_store)
    there = environment(other_chain, filled_store)
    refused = run_cli("backfill", "--since-cursor", env=there)
    assert refused.returncode == 1 and "holds fills of block" in refused.stderr
    assert _rows(filled_store) == before
    home = run_cli("backfill", "--since-cursor", env=environment(devnet, filled_store))
    assert home.returncode == 0, home.stderr
    with engine.connect() as conn:
        recorded = conn.execute(select(chain_identity.c.genesis_hash)).scalar_one()
    engine.dispose()
    assert recorded == _genesis(devnet)


@one_store
def test_an_empty_store_takes_the_chain_it_is_first_used_with(db_url, other_chain, devnet):
    added = run_cli("leaders", "add", FRESH_LEADER, env={"POLYGON_PIPELINE_DB_URL": db_url})
    assert added.returncode == 0, added.stderr
    first = run_cli("backfill", "--since-cursor", env=environment(other_chain, db_url))
    assert first.returncode == 0, first.stderr
    engine = make_engine(db_url)
    with engine.connect() as conn:
        recorded = conn.execute(select(chain_identity.c.genesis_hash)).scalar_one()
    engine.dispose()
    assert recorded == _genesis(other_chain)
    refused = run_cli("backfill", "--since-cursor", env=environment(devnet, db_url))
    assert refused.returncode == 1 and "POLYGON_PIPELINE_DB_URL" in refused.stderr
