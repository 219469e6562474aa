"""Dagster as deploy/ installs it on a server, not `dagster dev`: the code server (gRPC), the
webserver and the daemon started from the systemd units' own commands as three processes,
Dagster's runs, events and schedules in one PostgreSQL database and the fills in another.
Windows registered with the CLI, a backfill launched through the webserver as the UI does,
run by the daemon in processes the code server starts: the fills stored are the truth's."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, create_engine, text

from polygon_pipeline.devnet.anvil import FINALITY_DEPTH
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.window_keys import window_key
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.dagster_dev import backfill_status, cells, launch_backfill
from polygon_pipeline_tests.helpers.deploy import DagsterServices, dagster_pg_env
from polygon_pipeline_tests.helpers.scratch_db import scratch_postgres
from polygon_pipeline_tests.helpers.sync import environment, leader_fills
from polygon_pipeline_tests.helpers.watcher_process import wait_for

WINDOW = 20
WINDOWS = 2

PARTITION_KEYS = """
{ assetNodeOrError(assetKey: {path: ["leader_fills"]}) { ... on AssetNode { partitionKeys } } }"""


@pytest.fixture
def services(devnet, leaders, tmp_path):
    """deploy/'s three Dagster services on scratch PostgreSQL databases; the pipeline's
    environment as /etc/polygon-pipeline.env would give it to every unit."""
    with scratch_postgres("pp_dagster") as dagster_db, scratch_postgres("pp_store") as store:
        engine = make_engine(store)
        with engine.begin() as conn:
            add_leaders(conn, leaders)
        env = {
            **environment(
                devnet,
                store,
                partition_window_blocks=WINDOW,
                # the window sensor and the schedule stay out of the way of what is checked
                partitions_start_block=10**9,
                reconcile_cron="0 0 1 1 *",
            ),
            **dagster_pg_env(dagster_db),
            "DAGSTER_HOME": str(tmp_path / "srv" / "dagster"),
        }
        dagster = DagsterServices(env, tmp_path / "srv")
        try:
            wait_for(dagster.ready, 180, f"the webserver\n{dagster.output()}", every=1)
            yield dagster, env, engine, dagster_db
        finally:
            dagster.stop()
            engine.dispose()


def _stored(engine, lo: int, hi: int) -> set[tuple[str, int]]:
    with engine.connect() as conn:
        return {
            (r["tx_hash"], r["log_index"])
            for r in fetch_fills(conn)
            if lo <= r["block_number"] <= hi
        }


@pytest.mark.timeout(600)
def test_a_backfill_through_the_webserver_on_the_deployed_services_is_exact(
    devnet, leaders, services
):
    dagster, env, engine, dagster_db = services
    # the webserver reads the location from the code server's port, not from a module
    location = wait_for(
        lambda: (loc := dagster.location()) and loc["loadStatus"] == "LOADED" and loc,
        120,
        f"the code location loaded\n{dagster.output()}",
        every=1,
    )
    assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location
    metadata = {m["key"]: m["value"] for m in location["displayMetadata"]}
    assert metadata["port"] == str(dagster.grpc_port), metadata

    start = devnet.head() + 1
    lo = start + (-start) % WINDOW
    hi = lo + WINDOWS * WINDOW - 1
    devnet.mine(blocks=hi - start + 1, fills_per_block=6)
    devnet.mine(blocks=FINALITY_DEPTH)
    registered = run_cli("windows", "register", "--to-block", str(hi), env=env)
    assert registered.returncode == 0, registered.stderr
    keys = cells([window_key(lo + i * WINDOW, WINDOW) for i in range(WINDOWS)])
    grid = dagster.query(PARTITION_KEYS)["assetNodeOrError"]["partitionKeys"]
    assert set(keys) <= set(grid), grid  # registered from the origin through hi

    backfill = launch_backfill(dagster, keys)
    status = wait_for(
        lambda: backfill_status(dagster, backfill),
        360,
        f"the backfill to end\n{dagster.output()}",
        every=2,
    )
    assert status == "COMPLETED_SUCCESS", dagster.output()
    assert _stored(engine, lo, hi) == leader_fills(devnet.truth(lo, hi), set(leaders))
    # Dagster's own records (runs, events) went to PostgreSQL, none to SQLite under DAGSTER_HOME
    runs_db = create_engine(dagster_db)
    with runs_db.connect() as conn:
        runs = conn.execute(
            text(
                "SELECT r.run_id, r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id"
                " WHERE t.key = 'dagster/backfill' AND t.value = :id"
            ),
            {"id": backfill},
        ).all()
        # a run per window, each with every exchange (Dagster splits a grid taller than wide
        # by window)
        assert [r.status for r in runs] == ["SUCCESS"] * WINDOWS
        materialized = conn.execute(
            text(
                "SELECT DISTINCT partition FROM event_logs WHERE run_id IN :runs"
                " AND dagster_event_type = 'ASSET_MATERIALIZATION' ORDER BY partition"
            ).bindparams(bindparam("runs", expanding=True)),
            {"runs": [r.run_id for r in runs]},
        ).scalars()
        assert list(materialized) == sorted(keys)
    runs_db.dispose()
    assert not list(dagster.home.rglob("*.db"))
