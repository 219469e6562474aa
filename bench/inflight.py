"""Benchmark: requests in flight. `polygon-pipeline backfill` as one process and as four
(each on a quarter of the range, one shared budget), against a provider capped at 25
requests/s, at 0, 150 and 400 ms of added latency, with a 10-block and a 2,000-block
`eth_getLogs` range. From the emulator's counters: served rate over the busy interval as a
share of the cap, 429s, the peak 1-second rate, the peak number of requests in flight; the
wall time against the minimum the cap allows; and whether the stored fills are exactly the
devnet's truth.

    .venv/bin/python -m bench.inflight [--before DIR]

`--before DIR` also runs one process at 0 and 150 ms (10-block range) with the package found
in DIR (e.g. `git archive <commit> polygon_pipeline | tar -x -C DIR`): the figures before.
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy import select

from bench.common import (
    markdown_table,
    mine_buried,
    run_backfills,
    running_devnet,
    scratch_databases,
)
from bench.common import store_with_leaders as prepared_store
from polygon_pipeline.settings import in_flight_for
from polygon_pipeline.store.schema import fills
from polygon_pipeline_tests.helpers.sync import leader_fills

CAP = 25
WORKLOADS = {10: (1000, 2), 2000: (4000, 1)}  # provider range: (blocks, fills per block)
LATENCIES = (0, 150, 400)


def run(devnet, db_url, leaders, rng, latency, procs, concurrency, first, last, code, allowance):
    engine = prepared_store(db_url, leaders)
    devnet.configure(max_rps=CAP, getlogs_max_range=rng, latency_ms=latency)
    devnet.reset_stats()
    chosen = {"rpc_max_concurrency": concurrency, "rpc_arrival_allowance_ms": allowance}
    env = devnet.pipeline_env(
        db_url,
        rpc_max_rps=CAP,
        backfill_max_range=rng,
        **{k: v for k, v in chosen.items() if v is not None},  # None: what a user gets
    )
    each = (last - first + 1) // procs
    spans = [(first + i * each, first + (i + 1) * each - 1) for i in range(procs - 1)] + [
        (first + (procs - 1) * each, last)
    ]
    began = time.monotonic()
    run_backfills(spans, env, code)
    wall = time.monotonic() - began
    stats = devnet.stats()
    with engine.connect() as conn:
        stored = {(tx, i) for tx, i in conn.execute(select(fills.c.tx_hash, fills.c.log_index))}
    engine.dispose()
    busy = (stats["last_served_at"] or 0) - (stats["first_served_at"] or 0)
    getlogs = stats["served"].get("eth_getLogs", 0)
    return {
        "getlogs": getlogs,
        "served": stats["served_total"],
        "busy": busy,
        "rate": stats["served_total"] / busy / CAP if busy else 0.0,
        "throttled": stats["throttled_total"],
        "peak": stats["peak_rps_received"],
        "in_flight": stats["peak_in_flight"],
        "wall": wall,
        "minimum": stats["served_total"] / CAP,
        "exact": stored == leader_fills(devnet.truth(first, last), set(leaders)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", help="a folder holding the package before this change")
    parser.add_argument(
        "--allowance-ms",
        type=int,
        help="POLYGON_RPC_ARRIVAL_ALLOWANCE_MS (default: the devnet's, for loopback)",
    )
    parser.add_argument("--range", type=int, choices=list(WORKLOADS), help="only this range")
    parser.add_argument(
        "--concurrency", type=int, help="POLYGON_RPC_MAX_CONCURRENCY (default: from the rate)"
    )
    args = parser.parse_args()
    rows = []
    with running_devnet() as devnet:
        leaders = devnet.info()["leaders"]
        allowance = args.allowance_ms or int(devnet.env["POLYGON_RPC_ARRIVAL_ALLOWANCE_MS"])
        ranges = {r: mine_buried(devnet, b, per_block=f) for r, (b, f) in WORKLOADS.items()}
        chosen = [args.range] if args.range else list(WORKLOADS)
        plan = [
            ("after", r, lat, p, args.concurrency)
            for r in chosen
            for lat in LATENCIES
            for p in (1, 4)
        ]
        # Little's law: 25/s at 400 ms needs 10 in flight; the default at 25/s (8) allows 20/s
        if 10 in chosen:
            plan.append(("after", 10, 400, 1, 12))
        if args.before:
            plan = [("before", 10, lat, 1, 4) for lat in (0, 150)] + plan
        for code, rng, latency, procs, concurrency in plan:
            with scratch_databases() as urls:
                first, last = ranges[rng]
                r = run(
                    devnet,
                    urls["postgresql"],
                    leaders,
                    rng,
                    latency,
                    procs,
                    concurrency,
                    first,
                    last,
                    args.before if code == "before" else None,
                    allowance,
                )
            rows.append(
                [
                    code,
                    f"{allowance} ms",
                    procs,
                    concurrency or f"unset: {in_flight_for(CAP)}",
                    f"{latency} ms",
                    rng,
                    f"{last - first + 1:,}",
                    r["getlogs"],
                    f"{r['rate']:.0%}",
                    r["throttled"],
                    r["peak"],
                    r["in_flight"],
                    f"{r['busy']:.1f}s",
                    f"{r['wall']:.1f}s",
                    f"{r['minimum']:.1f}s",
                    "yes" if r["exact"] else "NO",
                ]
            )
            print(rows[-1], flush=True)
    print(
        markdown_table(
            [
                "code",
                "arrival allowance",
                "processes",
                "POLYGON_RPC_MAX_CONCURRENCY",
                "latency",
                "range",
                "blocks",
                "eth_getLogs",
                "served rate / cap",
                "429s",
                "peak 1-s rate",
                "peak in flight",
                "busy interval",
                "wall time",
                "minimum at the cap",
                "fills exact",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
