"""Benchmark 3, catch-up: the pipeline was down for 2 minutes of Polygon blocks (60 blocks at
2 s); `polygon-pipeline backfill --since-cursor` brings it to the finalized head. Reports the
time taken against the minimum the provider's cap allows (requests needed / cap), and the
429s on the way, from the emulator's counters.

    .venv/bin/python -m bench.catch_up [--cap 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import (
    FINALITY,
    markdown_table,
    running_devnet,
    scratch_databases,
    store_with_leaders,
)

MISSED_BLOCKS = 60  # two minutes of 2-second blocks


def catch_up(devnet, db_url: str, cap: int, range_cap: int | None) -> list:
    store_with_leaders(db_url, devnet.info()["leaders"]).dispose()
    env = devnet.pipeline_env(db_url, rpc_max_rps=cap, backfill_safety_overlap=20)
    devnet.configure(max_rps=cap, getlogs_max_range=range_cap)
    head = devnet.head()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "polygon_pipeline",
            "backfill",
            "--from-block",
            str(max(0, head - FINALITY - 20)),
        ],
        env=env,
        check=True,
        capture_output=True,
    )  # the state before the outage: cursor at the head
    devnet.mine(blocks=MISSED_BLOCKS, fills_per_block=6)  # the outage
    devnet.reset_stats()
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", "backfill", "--since-cursor"],
        env=env,
        check=True,
        capture_output=True,
    )
    took = time.monotonic() - began
    stats = devnet.stats()
    minimum = stats["served_total"] / cap
    return [
        f"{cap}/s",
        range_cap or "none",
        MISSED_BLOCKS,
        stats["calls_total"],
        f"{took:.1f}s",
        f"{stats['last_served_at'] - stats['first_served_at']:.1f}s",
        f"{minimum:.1f}s",
        stats["throttled_total"],
        stats["peak_rps_received"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cap", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with running_devnet() as devnet:
        devnet.mine(blocks=100, fills_per_block=2)
        for range_cap in (10, 2000):
            with scratch_databases() as urls:
                rows.append(catch_up(devnet, urls["sqlite"], args.cap, range_cap))
            print(rows[-1], flush=True)
    print(
        markdown_table(
            [
                "cap",
                "getLogs range cap",
                "blocks missed",
                "requests",
                "process wall time",
                "busy interval at the provider",
                "minimum at the cap",
                "429s",
                "peak 1-s rate",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
