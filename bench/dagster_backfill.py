"""Benchmark: a Dagster backfill the way a user launches it. `dagster dev` (webserver and
daemon) started as `make demo` starts it, windows registered with `polygon-pipeline windows
register`, and a backfill of `leader_fills` launched through the webserver's GraphQL API as
the UI's dialog does; the provider emulator at 150 ms of added latency and 25 requests/s,
with a 10-block and a 2,000-block `eth_getLogs` range. Reported: wall time from launch to
the backfill's completion, runs, per-run overhead (wall less the time reconciling), against
the RPC-bound minimum (the provider's eth_getLogs count / cap); fills exact vs the truth.
Wall time runs from the launch to the end of the backfill's last run, when the fills are all
stored; Dagster's backfill daemon, which submits the runs and later marks the backfill
complete, wakes every 30 s (fixed in Dagster), so its pick-up and the "marked complete" time
are shown apart.

    .venv/bin/python -m bench.dagster_backfill [--windows 10] [--window-blocks 200]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from bench.common import markdown_table, mine_buried, running_devnet, store_with_leaders
from polygon_pipeline.store.fills_repo import fill_keys
from polygon_pipeline_tests.dagster_dev import (
    ROOT,
    DagsterDev,
    backfill_status,
    launch_backfill,
    launch_range_run,
    run_status,
)
from polygon_pipeline_tests.sync_helpers import leader_fills
from polygon_pipeline_tests.test_cli import run_cli
from polygon_pipeline_tests.watcher_process import wait_for

CAP = 25
LATENCY_MS = 150
RANGES = (10, 2000)


def one_backfill(
    devnet, tmp: Path, windows: int, size: int, rng: int, first: int, how: str
) -> list:
    home = tmp / f"home-{rng}-{how}"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    db_url = f"sqlite:///{tmp / f'fills-{rng}-{how}.db'}"
    leaders = devnet.info()["leaders"]
    engine = store_with_leaders(db_url, leaders)
    env = {
        **devnet.pipeline_env(
            db_url,
            rpc_max_rps=CAP,
            backfill_max_range=max(rng, 500),
            partition_window_blocks=size,
            partitions_start_block=10**9,  # the window sensor stays out of the measurement
            reconcile_cron="0 0 1 1 *",
        ),
        "DAGSTER_HOME": str(home),
    }
    keys_from, keys_to = first, first + windows * size - 1
    out = run_cli("windows", "register", "--from-block", str(keys_from), "--to-block",
                  str(keys_to), env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        keys = list(instance.get_dynamic_partitions("block_windows"))
    dev = DagsterDev(env, tmp / f"dagster-{rng}-{how}.log")
    try:
        wait_for(dev.ready, 180, "dagster dev up", every=1)
        devnet.configure(max_rps=CAP, getlogs_max_range=rng, latency_ms=LATENCY_MS)
        devnet.reset_stats()
        time.sleep(random.uniform(0, 30))  # a user launches at any point of the daemon's cycle
        launched_at = time.time()
        if how == "backfill":
            backfill = launch_backfill(dev, keys)
            status = wait_for(lambda: backfill_status(dev, backfill), 900, "backfill", every=0.5)
        else:
            run_id = launch_range_run(dev, keys[0], keys[-1])
            status = wait_for(lambda: run_status(dev, run_id), 900, "the run", every=0.5)
        marked = time.time() - launched_at
    finally:
        dev.stop()
    stats = devnet.stats()
    calls = stats["calls"].get("eth_getLogs", 0)
    with DagsterInstance.from_config(str(home)) as instance:
        runs = [  # the automation sensor may add a derived-asset run: not ours
            r
            for r in instance.get_run_records()
            if AssetKey("leader_fills") in (r.dagster_run.asset_selection or ())
        ]
        records = instance.fetch_materializations(AssetKey("leader_fills"), limit=10_000).records
        per_run = {rec.run_id: rec.asset_materialization.metadata for rec in records}
        reconciling = sum(float(meta["duration_s"].value) for meta in per_run.values())
    with engine.connect() as conn:
        stored = {(tx, idx) for _, tx, idx in fill_keys(conn)}
    engine.dispose()
    exact = stored == leader_fills(devnet.truth(keys_from, keys_to), set(leaders))
    minimum = calls / CAP
    # The user's data is complete when the last run ends; Dagster's backfill daemon, which
    # submits a backfill's runs and marks it complete, wakes every 30 s (a fixed interval).
    wall = max(r.end_time for r in runs) - launched_at
    picked = min(r.create_timestamp.timestamp() for r in runs) - launched_at
    return [
        f"{windows} x {size} blocks",
        rng,
        how,
        status,
        len(runs),
        calls,
        stats.get("throttled_total", 0),
        f"{minimum:.1f} s",
        f"{wall:.1f} s",
        f"{wall / minimum:.2f}x" if minimum else "-",
        f"{1.5 * minimum + 20:.1f} s",
        f"{picked:.1f} s",
        f"{(wall - picked - reconciling) / max(len(runs), 1):.1f} s",
        f"{marked:.1f} s" if how == "backfill" else "-",
        "yes" if exact else "NO",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--window-blocks", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with running_devnet() as devnet, tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        start, _ = mine_buried(devnet, args.windows * args.window_blocks + args.window_blocks, 2)
        first = start + (-start) % args.window_blocks
        for rng in RANGES:
            for how in ("backfill", "single run"):
                rows.append(
                    one_backfill(
                        devnet, Path(tmp), args.windows, args.window_blocks, rng, first, how
                    )
                )
                print(rows[-1], flush=True)
    print(
        markdown_table(
            [
                "windows", "provider range", "launched as", "status", "runs", "eth_getLogs", "429s",
                "RPC-bound minimum", "wall (launch to data complete)", "wall / minimum",
                "target (1.5 x min + 20 s)", "daemon pick-up", "run overhead (start, queue)",
                "backfill marked complete", "fills exact",
            ],
            rows,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
