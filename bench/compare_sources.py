"""API mode beside chain mode: the watcher alone for N blocks, then the watcher and the Data
API poller together for N blocks; the chain's RPC calls in each phase (emulator counters),
and the comparator's report on the second phase (stand-in delay 5 s, 5 % of trades never
indexed).

    .venv/bin/python -m bench.compare_sources [--blocks 30] [--block-time 1.0]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.common import markdown_table, pipeline_process, stage, wait_healthy
from polygon_pipeline.sync.compare import compare_sources

DELAY_S = 5.0
OMIT_SHARE = 0.05


def _phase(devnet, blocks: int, block_time: float) -> dict:
    devnet.reset_stats()
    devnet.set_clock(block_time)
    time.sleep(blocks * block_time)
    devnet.set_clock(None)
    return devnet.stats()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--block-time", type=float, default=1.0)
    args = parser.parse_args()
    with stage("sqlite") as st:
        devnet = st.devnet
        devnet.data_api(delay_s=DELAY_S, omit_share=OMIT_SHARE, max_rps=50)
        env = st.env(data_api_poll_s=1, data_api_max_rps=20)
        with pipeline_process("watch", env, st.logs / "watcher.log"):
            wait_healthy(st.health_port, st.devnet)
            chain_only = _phase(devnet, args.blocks, args.block_time)
            since = datetime.now(tz=UTC).replace(microsecond=0)
            with pipeline_process("api-poll", env, st.logs / "poller.log"):
                both = _phase(devnet, args.blocks, args.block_time)
                time.sleep(DELAY_S + 3)  # let the API index and the poller catch up
                api_requests = devnet.data_api()["requests"]
        result = compare_sources(st.engine, since)
    print(
        markdown_table(
            ["phase", "blocks", "RPC calls", "by method", "Data API requests"],
            [
                [
                    "chain mode alone",
                    args.blocks,
                    chain_only["calls_total"],
                    chain_only["calls"],
                    0,
                ],
                [
                    "chain mode + API mode",
                    args.blocks,
                    both["calls_total"],
                    both["calls"],
                    api_requests,
                ],
            ],
        )
    )
    print()
    print(result.markdown())


if __name__ == "__main__":
    main()
