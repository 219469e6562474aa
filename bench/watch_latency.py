"""Watcher latency: from the block being mined to the fill committed in the store, at 2 s
blocks with realistic load, measured by a PostgreSQL LISTEN client (a NOTIFY arrives only
once the fill is committed and readable: exactly what a trading bot sees).

    .venv/bin/python -m bench.watch_latency [--blocks 45] [--fills-per-block 40]
"""

from __future__ import annotations

import argparse
import json
import time

import psycopg
from sqlalchemy.engine import make_url

from bench.common import markdown_table, percentile, pipeline_process, stage, wait_healthy
from polygon_pipeline.store.fills_repo import FILLS_CHANNEL, fetch_fills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=45)
    parser.add_argument("--fills-per-block", type=int, default=40)
    parser.add_argument("--block-time", type=float, default=2.0)
    args = parser.parse_args()
    with stage("postgresql") as st:
        devnet, engine = st.devnet, st.engine
        conninfo = (
            make_url(st.db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        heard: dict[tuple[str, int], float] = {}
        with (
            psycopg.connect(conninfo, autocommit=True) as listener,
            pipeline_process("watch", st.env(), st.logs / "watcher.log"),
        ):
            listener.execute(f"LISTEN {FILLS_CHANNEL}")
            wait_healthy(st.health_port, st.devnet)
            devnet.set_generator(fills_per_block=args.fills_per_block)
            start = devnet.head() + 1
            devnet.set_clock(args.block_time)
            deadline = time.monotonic() + args.blocks * args.block_time
            while time.monotonic() < deadline:
                for note in listener.notifies(timeout=0.5):
                    event = json.loads(note.payload)
                    heard.setdefault((event["tx_hash"], event["log_index"]), time.time())
            devnet.set_clock(None)
            for note in listener.notifies(timeout=3):
                event = json.loads(note.payload)
                heard.setdefault((event["tx_hash"], event["log_index"]), time.time())
            end = devnet.head()
        leaders = set(st.leaders)
        truth = [
            r for r in devnet.truth(start, end) if r["maker"] in leaders or r["taker"] in leaders
        ]
        with engine.connect() as conn:
            seen = {
                (r["tx_hash"], r["log_index"]): r["first_seen_at"].timestamp()
                for r in fetch_fills(conn)
            }
    missing = [r for r in truth if (r["tx_hash"], r["log_index"]) not in heard]
    committed = [
        (heard[(r["tx_hash"], r["log_index"])] - r["mined_at"]) * 1000
        for r in truth
        if (r["tx_hash"], r["log_index"]) in heard
    ]
    received = [
        (seen[(r["tx_hash"], r["log_index"])] - r["mined_at"]) * 1000
        for r in truth
        if (r["tx_hash"], r["log_index"]) in seen
    ]
    rows = [
        [
            name,
            len(values),
            *(f"{percentile(values, q):.0f} ms" for q in (50, 95, 99)),
            f"{max(values):.0f} ms",
        ]
        for name, values in (
            ("mined -> received by the watcher", received),
            ("mined -> committed (NOTIFY heard)", committed),
        )
    ]
    print(
        f"{end - start + 1} blocks at {args.block_time}s, {args.fills_per_block} fills a "
        f"block, {len(truth)} leader fills, {len(missing)} not heard"
    )
    print(markdown_table(["latency", "fills", "p50", "p95", "p99", "max"], rows))


if __name__ == "__main__":
    main()
