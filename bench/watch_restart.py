"""The origin plan's acceptance, on the devnet at a compressed clock: the watcher is stopped
for 2 minutes of Polygon blocks (60 blocks) and restarted; it must catch up with no 429 storm
and every fill of the gap present. Provider: 5 requests/s, 10-block eth_getLogs range.

    .venv/bin/python -m bench.watch_restart [--block-time 0.2]
"""

from __future__ import annotations

import argparse
import time

from bench.common import markdown_table, pipeline_process, stage, wait_healthy
from polygon_pipeline.store.fills_repo import fill_keys

MISSED = 60  # 2 minutes of 2-second blocks
CAP = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--block-time", type=float, default=0.2)
    args = parser.parse_args()
    with stage("sqlite") as st:
        devnet, engine, leaders = st.devnet, st.engine, st.leaders
        devnet.mine(blocks=30, fills_per_block=6)
        devnet.configure(max_rps=CAP, getlogs_max_range=10)
        env = st.env(rpc_max_rps=CAP, backfill_on_startup="true")  # window: the default 50
        start = devnet.head() + 1
        devnet.set_clock(args.block_time)
        with pipeline_process("watch", env, st.logs / "watcher1.log"):
            wait_healthy(st.health_port, st.devnet)
            time.sleep(5)
        stopped_at = devnet.head()
        while devnet.head() < stopped_at + MISSED:  # the outage
            time.sleep(args.block_time)
        devnet.reset_stats()
        restarted = time.monotonic()
        with pipeline_process("watch", env, st.logs / "watcher2.log"):
            wait_healthy(st.health_port, st.devnet)
            healthy_after = time.monotonic() - restarted
            devnet.set_clock(None)
            end = devnet.head()
            wanted = {
                (r["tx_hash"], r["log_index"])
                for r in devnet.truth(start, end)
                if r["maker"] in leaders or r["taker"] in leaders
            }
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    have = {(tx, i) for _, tx, i in fill_keys(conn)}
                if wanted <= have:
                    break
                time.sleep(0.5)
            caught_up = time.monotonic() - restarted
        stats = devnet.stats()
    missing = len(wanted - have)
    print(
        markdown_table(
            [
                "blocks missed",
                "leader fills (whole run)",
                "missing after restart",
                "healthy after",
                "all fills present after",
                "requests",
                "eth_getLogs",
                "429s",
                "peak 1-s rate",
            ],
            [
                [
                    MISSED,
                    len(wanted),
                    missing,
                    f"{healthy_after:.1f}s",
                    f"{caught_up:.1f}s",
                    stats["calls_total"],
                    stats["calls"].get("eth_getLogs", 0),
                    stats["throttled_total"],
                    stats["peak_rps_received"],
                ]
            ],
        )
    )


if __name__ == "__main__":
    main()
