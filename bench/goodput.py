"""Benchmark 2, goodput under a cap: `polygon-pipeline backfill` processes at once (four by
default) against a provider capped at N requests/s (HTTP 429 + Retry-After above it), with the
shared budget set to the same N, optionally on a machine loaded by CPU burners. Reports, from
the emulator's counters, the served request rate over the busy interval as a share of the
cap, the share of requests answered 429, and the peak rate in any 1-second window.

    .venv/bin/python -m bench.goodput [--caps 5 25] [--seconds 15] [--processes 4]
        [--load 0] [--stores sqlite postgresql] [--before DIR]

`--load N` runs N busy-looping processes during every round (the machine's scheduling then
wakes senders late). `--before DIR` also runs the rounds with the package found in DIR (e.g.
`git archive <commit> polygon_pipeline | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
from collections.abc import Iterator

from bench.common import (
    markdown_table,
    mine_buried,
    run_backfills,
    running_devnet,
    scratch_databases,
    store_with_leaders,
)

RANGE_CAP = 10
CALLS_PER_BLOCK = 0.2  # maker + taker query per 10-block chunk


def _burn() -> None:
    while True:
        pass


@contextlib.contextmanager
def cpu_load(burners: int) -> Iterator[None]:
    """`burners` processes spinning on the CPU for the duration."""
    procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(burners)]
    for proc in procs:
        proc.start()
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.join()


def run_round(devnet, db_url: str, cap: int, spans: list[tuple[int, int]], code) -> dict:
    store_with_leaders(db_url, devnet.info()["leaders"]).dispose()
    devnet.configure(max_rps=cap, getlogs_max_range=RANGE_CAP)
    devnet.reset_stats()
    env = devnet.pipeline_env(db_url, rpc_max_rps=cap, backfill_max_range=RANGE_CAP)
    run_backfills(spans, env, code)
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
    parser.add_argument("--processes", type=int, nargs="+", default=[4])
    parser.add_argument("--load", type=int, default=0, help="CPU-burning processes")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--before", help="a folder holding the package before this change")
    args = parser.parse_args()
    codes = [("before", args.before)] if args.before else []
    codes.append(("after", None))
    rows = []
    with running_devnet() as devnet:
        blocks = int(max(args.caps) * args.seconds / CALLS_PER_BLOCK)
        start, _ = mine_buried(devnet, blocks, per_block=1)
        for procs, cap, store, (label, code) in (  # before and after side by side
            (p, cap, s, c)
            for p in args.processes
            for cap in args.caps
            for s in args.stores
            for c in codes
        ):
            each = int(cap * args.seconds / procs / CALLS_PER_BLOCK)
            spans = [(start + i * each, start + (i + 1) * each - 1) for i in range(procs)]
            with scratch_databases() as urls, cpu_load(args.load):
                r = run_round(devnet, urls[store], cap, spans, code)
            rows.append(
                [
                    label,
                    procs,
                    args.load,
                    f"{cap}/s",
                    store,
                    r["calls"],
                    f"{r['busy_s']:.1f}s",
                    f"{r['goodput']:.0%}",
                    f"{r['throttled']} ({r['throttled'] / r['calls']:.2%})",
                    r["peak_received"],
                    r["peak_served"],
                ]
            )
            print(rows[-1], flush=True)
    print(
        markdown_table(
            [
                "code",
                "processes",
                "CPU burners",
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
