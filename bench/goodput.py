"""Benchmark 2, goodput under a cap: four `polygon-pipeline backfill` processes at once
against a provider capped at N requests/s (HTTP 429 + Retry-After above it), with the shared
budget set to the same N. Reports, from the emulator's counters, the served request rate
over the busy interval as a share of the cap, the share of requests answered 429, and the
peak rate in any 1-second window.

    .venv/bin/python -m bench.goodput [--caps 5 25] [--seconds 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.common import (
    markdown_table,
    mine_buried,
    running_devnet,
    scratch_databases,
    store_with_leaders,
)

PROCESSES = 4
RANGE_CAP = 10


def run_round(devnet, db_url: str, cap: int, start: int, blocks_each: int) -> dict:
    store_with_leaders(db_url, devnet.info()["leaders"]).dispose()
    devnet.configure(max_rps=cap, getlogs_max_range=RANGE_CAP)
    devnet.reset_stats()
    env = devnet.pipeline_env(db_url, rpc_max_rps=cap, backfill_max_range=RANGE_CAP)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "polygon_pipeline",
                "backfill",
                "--from-block",
                str(start + i * blocks_each),
                "--to-block",
                str(start + (i + 1) * blocks_each - 1),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(err)
    stats = devnet.stats()
    busy = stats["last_served_at"] - stats["first_served_at"]
    return {
        "served": stats["served_total"],
        "calls": stats["calls_total"],
        "throttled": stats["throttled_total"],
        "busy_s": busy,
        "goodput": stats["served_total"] / busy / cap,
        "peak_received": stats["peak_rps_received"],
        "peak_served": stats["peak_rps_served"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--caps", type=int, nargs="+", default=[5, 25])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    rows = []
    with running_devnet() as devnet:
        # maker + taker query per 10-block chunk: 0.2 calls a block per process
        blocks_each = int(max(args.caps) * args.seconds / PROCESSES / 0.2)
        start, _ = mine_buried(devnet, blocks_each * PROCESSES, per_block=1)
        for cap in args.caps:
            each = int(cap * args.seconds / PROCESSES / 0.2)
            for store in ("sqlite", "postgresql"):
                with scratch_databases() as urls:
                    r = run_round(devnet, urls[store], cap, start, each)
                rows.append(
                    [
                        f"{cap}/s",
                        store,
                        r["calls"],
                        f"{r['busy_s']:.1f}s",
                        f"{r['goodput']:.0%}",
                        f"{r['throttled'] / r['calls']:.2%}",
                        r["peak_received"],
                        r["peak_served"],
                    ]
                )
                print(rows[-1], flush=True)
    print(
        markdown_table(
            [
                "cap",
                "store",
                "requests",
                "busy interval",
                "served rate / cap",
                "answered 429",
                "peak 1-s rate received",
                "peak 1-s rate served",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
