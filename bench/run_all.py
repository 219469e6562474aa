"""Run every benchmark in turn (`make bench`); each prints a markdown table for BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.rpc_economy",
    "bench.goodput",
    "bench.inflight",
    "bench.catch_up",
    "bench.decode_store",
    "bench.watch_latency",
    "bench.watch_restart",
    "bench.compare_sources",
    "bench.dagster_backfill",
    "bench.cli_start",
    "bench.capacity",
    "bench.audit_cost",
)


def main() -> None:
    for module in BENCHMARKS:
        print(f"\n## {module}\n", flush=True)
        subprocess.run([sys.executable, "-m", module], check=True)


if __name__ == "__main__":
    main()
