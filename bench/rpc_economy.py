"""Benchmark 1, RPC economy: eth_getLogs calls to backfill the same 500 blocks on both
exchanges for 1, 10, 100 and 500 leaders, by this engine and by the per-leader design of the
origin plan (2 exchanges x each leader x 10-block chunks x maker/taker query), which exists
only here, as the baseline. Calls are read from the devnet emulator's counters.

    .venv/bin/python -m bench.rpc_economy
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from eth_utils import keccak

from bench.common import markdown_table, mine_buried, running_devnet, scratch_sync
from polygon_pipeline.chain.exchanges import EXCHANGES, venues_of
from polygon_pipeline.chain.log_queries import leader_filter
from polygon_pipeline.sync.reconcile import reconcile

LEADER_COUNTS = (1, 10, 100, 500)
BLOCKS = 500
BASELINE_CHUNK = 10


def _leaders(trading: list[str], n: int) -> list[str]:
    quiet = ["0x" + keccak(text=f"bench quiet leader {i}")[12:].hex() for i in range(n)]
    return (trading + quiet)[:n]


def _baseline(
    rpc_url: str, venues: list, leaders: list[str], start: int, end: int
) -> set[tuple[str, str]]:
    """The origin plan's gapFillForLeader, for every leader and exchange (granted the
    knowledge of both generations of each exchange, so it finds the same fills)."""
    jobs = [
        (venues_of([exchange], venues), position, leader, lo, min(lo + BASELINE_CHUNK - 1, end))
        for exchange in EXCHANGES
        for leader in leaders
        for lo in range(start, end + 1, BASELINE_CHUNK)
        for position in (2, 3)
    ]

    def run(job) -> list[tuple[str, str]]:
        family, position, leader, lo, hi = job
        query = leader_filter(family, [leader], position, (lo, hi))
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}
        logs = requests.post(rpc_url, json=body, timeout=60).json()["result"]
        return [(log["transactionHash"], log["logIndex"]) for log in logs]

    with ThreadPoolExecutor(8) as pool:
        return {key for found in pool.map(run, jobs) for key in found}


def main() -> None:
    rows = []
    with running_devnet() as devnet:
        start, end = mine_buried(devnet, BLOCKS, per_block=4)
        trading = devnet.info()["leaders"]
        for n in LEADER_COUNTS:
            leaders = _leaders(trading, n)
            engine_calls = {}
            for cap in (None, 10):
                devnet.configure(getlogs_max_range=cap)
                devnet.reset_stats()
                with scratch_sync(devnet, leaders, backfill_max_range=BLOCKS) as ctx:
                    report = reconcile(ctx, list(EXCHANGES), start, end)
                engine_calls[cap] = devnet.stats()["calls"]["eth_getLogs"]
            devnet.configure(getlogs_max_range=None)
            devnet.reset_stats()
            found = _baseline(devnet.rpc_url, ctx.settings.venues, leaders, start, end)
            baseline_calls = devnet.stats()["calls"]["eth_getLogs"]
            assert len(found) == report.fills_found, "both designs must find the same fills"
            rows.append(
                [
                    n,
                    report.fills_found,
                    f"{baseline_calls:,}",
                    engine_calls[None],
                    f"{baseline_calls / engine_calls[None]:,.0f}x",
                    engine_calls[10],
                    f"{baseline_calls / engine_calls[10]:,.0f}x",
                ]
            )
            print(rows[-1], flush=True)
    print(
        markdown_table(
            [
                "leaders",
                "leader fills",
                "per-leader baseline calls",
                "engine calls (500-block range)",
                "ratio",
                "engine calls (provider capped at 10 blocks)",
                "ratio",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
