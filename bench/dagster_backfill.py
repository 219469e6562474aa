"""Benchmark: a Dagster backfill the way a user launches it. `dagster dev` (webserver and
daemon) started as `make demo` starts it, windows registered with `polygon-pipeline windows
register`, and `leader_fills` launched through the webserver's GraphQL API with the UI's own
mutations over a rectangle of the exchange x window grid (`--exchanges`, default every one):
as a backfill (what the launch dialog does for several partitions), and as one run over the
range (the range tags: what the window sensor's runs get). The provider emulator
adds 150 ms to every answer and serves 25 requests/s; `eth_getLogs` ranges of 10 and of
2,000 blocks.

Reported per launch: the RPC-bound minimum (the provider's eth_getLogs count / cap), wall time
from the launch to the end of the last run (the data is complete), the phases of that time
from the runs' event logs, and whether the stored fills are exactly the devnet's truth.

Dagster's backfill daemon, which turns a backfill into runs and later marks it complete,
wakes every 30 s (a fixed interval in Dagster, not configurable), so a backfill waits 0-30 s
(15 s on average) before its first run exists. Launches happen at a random point of that
cycle, as a user's would; the daemon's pick-up is shown apart, and the target is judged both
on the whole wall time and on the time from the pick-up on.

    .venv/bin/python -m bench.dagster_backfill [--windows 10] [--window-blocks 200] [--repeats 2]
        [--exchanges ctf,negrisk,v3] [--ranges 10,2000] [--modes backfill,"one run"]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from dagster import AssetKey, DagsterEventType, DagsterInstance

from bench.common import markdown_table, mine_buried, running_devnet, store_with_leaders
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.sync.window_keys import parse_window, window_key
from polygon_pipeline.sync.windows import EXCHANGE_NAMES
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.dagster_dev import (
    ROOT,
    DagsterDev,
    backfill_status,
    cells,
    launch_backfill,
    launch_range_run,
    run_status,
    stop_sensor,
)
from polygon_pipeline_tests.helpers.sync import leader_fills
from polygon_pipeline_tests.helpers.watcher_process import wait_for

CAP = 25
LATENCY_MS = 150
RANGES = (10, 2000)
MODES = ("backfill", "one run")
DAEMON_CYCLE_S = 30  # Dagster's backfill daemon interval (dagster/_daemon/controller.py)
PHASES = (  # run event -> the phase that ends with it
    (DagsterEventType.RUN_DEQUEUED, "queue"),
    (DagsterEventType.RUN_START, "run process start"),
    (DagsterEventType.STEP_START, "step start"),
    (DagsterEventType.STEP_SUCCESS, "step"),
    (DagsterEventType.RUN_SUCCESS, "checks, run end"),
)


def timeline(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds spent in each phase of a run, from its creation to its end."""
    record = instance.get_run_record_by_id(run_id)
    events = {}
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event_type
        if kind is not None and kind not in events:
            events[kind] = entry.timestamp
    marks, last = {}, record.create_timestamp.timestamp()
    for kind, phase in PHASES:
        if kind in events:
            marks[phase] = events[kind] - last
            last = events[kind]
    return marks


class Session:
    """One `dagster dev` on one provider range, with its store and windows registered."""

    def __init__(self, devnet, tmp: Path, rng: int, size: int, first: int, count: int):
        self.devnet, self.rng, self.size = devnet, rng, size
        self.home = tmp / f"home-{rng}"
        self.home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", self.home / "dagster.yaml")
        self.leaders = devnet.info()["leaders"]
        self.engine = store_with_leaders(f"sqlite:///{tmp / f'fills-{rng}.db'}", self.leaders)
        self.env = {
            **devnet.pipeline_env(
                str(self.engine.url),
                rpc_max_rps=CAP,
                # as `make demo` runs it: with what the devnet publishes for its loopback
                rpc_arrival_allowance_ms=devnet.env["POLYGON_RPC_ARRIVAL_ALLOWANCE_MS"],
                backfill_max_range=max(rng, 500),
                partition_window_blocks=size,
                partitions_start_block=10**9,  # the window sensor stays out of the measurement
                reconcile_cron="0 0 1 1 *",
            ),
            "DAGSTER_HOME": str(self.home),
        }
        last = first + count * size - 1
        out = run_cli("windows", "register", "--to-block", str(last), env=self.env)
        assert out.returncode == 0, out.stderr
        self.dev = DagsterDev(self.env, tmp / f"dagster-{rng}.log")
        wait_for(self.dev.ready, 180, "dagster dev up", every=1)
        # its quarter-hour runs call eth_getLogs too (leader_positions' resolution search)
        stop_sensor(self.dev, "derived_assets_automation")

    def close(self) -> None:
        self.dev.stop()
        self.engine.dispose()

    def launch(self, windows: list[str], exchanges: list[str], how: str) -> dict:
        """Launch `windows` x `exchanges` as the UI does, wait for the end; the measured
        figures."""
        keys = cells(windows, exchanges)
        self.devnet.configure(max_rps=CAP, getlogs_max_range=self.rng, latency_ms=LATENCY_MS)
        self.devnet.reset_stats()
        time.sleep(random.uniform(0, DAEMON_CYCLE_S))  # any point of the daemon's cycle
        launched_at = time.time()
        if how == "backfill":
            backfill_id = launch_backfill(self.dev, keys)
            status = wait_for(lambda: backfill_status(self.dev, backfill_id), 900, "backfill", 0.5)
        else:
            backfill_id = None
            run_id = launch_range_run(self.dev, keys[0], keys[-1])
            status = wait_for(lambda: run_status(self.dev, run_id), 900, "the run", every=0.5)
        ended_at = time.time()
        stats = self.devnet.stats()
        with DagsterInstance.from_config(str(self.home)) as instance:
            runs = [  # the checks' schedule may add a run: not ours
                r
                for r in instance.get_run_records()
                if r.create_timestamp.timestamp() >= launched_at
                and AssetKey("leader_fills") in (r.dagster_run.asset_selection or ())
                and r.dagster_run.tags.get("dagster/backfill") == backfill_id
            ]
            phases = [timeline(instance, r.dagster_run.run_id) for r in runs]
        (lo, _), (_, hi) = parse_window(windows[0]), parse_window(windows[-1])
        with self.engine.connect() as conn:
            stored = {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)
                      if lo <= r["block_number"] <= hi}  # fmt: skip
        chosen = [r for r in self.devnet.truth(lo, hi) if r["exchange"] in exchanges]
        truth = leader_fills(chosen, set(self.leaders))
        calls = stats["calls"].get("eth_getLogs", 0)
        done = max(r.end_time for r in runs)
        picked = min(r.create_timestamp.timestamp() for r in runs)
        return {
            "exchanges": ",".join(exchanges),
            "how": how,
            "status": status,
            "runs": len(runs),
            "calls": calls,
            "429s": stats.get("throttled_total", 0),
            "minimum": calls / CAP,
            "wall": done - launched_at,
            "pick-up": picked - launched_at,
            "marked complete": ended_at - launched_at if how == "backfill" else None,
            "phases": {p: sum(t.get(p, 0) for t in phases) / len(phases) for _, p in PHASES},
            "exact": stored == truth,
        }


def target(m: dict) -> float:
    """1.5 x the RPC-bound minimum + 20 s, and for a backfill one cycle of Dagster's
    backfill daemon on top (it picks a backfill up 0-30 s after its launch)."""
    return 1.5 * m["minimum"] + 20 + (DAEMON_CYCLE_S if m["how"] == "backfill" else 0)


def row(windows: int, size: int, rng: int, m: dict) -> list:
    after_pickup = m["wall"] - m["pick-up"]
    phases = ", ".join(f"{name} {secs:.1f}" for name, secs in m["phases"].items())
    return [
        f"{windows} x {size}",
        m["exchanges"],
        rng,
        m["how"],
        m["status"],
        m["runs"],
        m["calls"],
        m["429s"],
        f"{m['minimum']:.1f} s",
        f"{target(m):.1f} s",
        f"{m['wall']:.1f} s",
        f"{m['pick-up']:.1f} s",
        f"{after_pickup:.1f} s",
        "yes" if m["wall"] <= target(m) else "no",
        f"{m['marked complete']:.1f} s" if m["marked complete"] is not None else "-",
        phases,
        "yes" if m["exact"] else "NO",
    ]


HEADER = [
    "windows x blocks", "exchanges", "provider range", "launched as", "status", "runs",
    "eth_getLogs", "429s", "RPC-bound minimum", "target (1.5 x min + 20 s; a backfill: + 30 s)",
    "wall: launch to the last run's end",
    "of which daemon pick-up", "pick-up to data complete", "wall within target",
    "launch to backfill marked complete", "per run phases (s): queue, process start, step "
    "start, step, checks and run end", "fills exact",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--window-blocks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ranges", default=",".join(map(str, RANGES)))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--exchanges", default=",".join(EXCHANGE_NAMES))
    args = parser.parse_args()
    exchanges = args.exchanges.split(",")
    ranges = [int(r) for r in args.ranges.split(",")]
    modes = args.modes.split(",")
    size, per = args.window_blocks, args.windows
    launches = args.repeats * len(modes)
    rows, summary = [], {}
    with running_devnet() as devnet, tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        start, _ = mine_buried(devnet, (launches * per + 1) * size, 2)
        first = start + (-start) % size
        for rng in ranges:
            session = Session(devnet, Path(tmp), rng, size, first, launches * per)
            try:
                for i in range(launches):
                    how = modes[i % len(modes)]
                    keys = [window_key(first + (i * per + w) * size, size) for w in range(per)]
                    measured = session.launch(keys, exchanges, how)
                    rows.append(row(per, size, rng, measured))
                    summary.setdefault((rng, how), []).append(measured)
                    print(rows[-1], flush=True)
            finally:
                session.close()
    print(markdown_table(HEADER, rows))
    print()
    print(markdown_table(
        ["provider range", "launched as", "launches", "median wall", "median pick-up to "
         "complete", "target", "worst case (pick-up to complete + 30 s)"],
        [[rng, how, len(ms), f"{statistics.median(m['wall'] for m in ms):.1f} s",
          f"{statistics.median(m['wall'] - m['pick-up'] for m in ms):.1f} s",
          f"{target(ms[0]):.1f} s",
          f"{max(m['wall'] - m['pick-up'] for m in ms) + DAEMON_CYCLE_S:.1f} s"
          if how == "backfill" else "-"]
         for (rng, how), ms in summary.items()],
    ))  # fmt: skip


if __name__ == "__main__":
    main()
