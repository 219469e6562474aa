"""Benchmark 12: market enrichment for 10,000 distinct tokens: Gamma requests (the devnet
stand-in's counters) and wall time of `markets sync`, at Gamma's published `/markets` rate
(300 per 10 s) and at 2 requests/s, with and without 10 % of answers failing; then a second
sync, which must ask nothing.

    .venv/bin/python -m bench.enrichment [--tokens 10000] [--stores sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import math
import os
from datetime import UTC, datetime

from bench.common import markdown_table, running_devnet, scratch_databases
from polygon_pipeline.chain.fills import Fill
from polygon_pipeline.devnet.market_catalogue import clob_token
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import upsert_fills
from polygon_pipeline.sync.context import GammaContext
from polygon_pipeline.sync.markets import sync_markets

BATCH = 50
RUNS = [(30.0, 0.0), (30.0, 0.1), (2.0, 0.1)]  # (requests/s, share of 5xx answers)


def _fills(tokens: int) -> list[Fill]:
    """One BUY fill per token of the stand-in's first tokens / 2 markets."""
    return [
        Fill(
            chain_id=137,
            exchange="ctf",
            venue="ctf_v2",
            block_number=1 + i,
            block_hash="0x" + "b" * 64,
            block_timestamp=1_700_000_000 + i,
            tx_hash=f"0x{i:064x}",
            log_index=0,
            order_hash="0x" + "0" * 64,
            maker="0x" + "1" * 40,
            taker="0x" + "2" * 40,
            side="BUY",
            token_id=clob_token(i // 2, i % 2),
            maker_asset_id=0,
            taker_asset_id=clob_token(i // 2, i % 2),
            maker_amount=500_000,
            taker_amount=1_000_000,
            fee=0,
            fee_asset="collateral",
            layout="v2",
        )  # fmt: skip
        for i in range(tokens)
    ]


def _run(devnet, db_url: str, tokens: int, rps: float, faults: float) -> list[object]:
    devnet.gamma(
        markets=tokens // 2, max_rps=rps, fault_5xx_rate=faults, page_size=BATCH,
        reset_counters=True,
    )  # fmt: skip
    engine = make_engine(db_url)
    with engine.begin() as conn:
        upsert_fills(conn, _fills(tokens), "backfill", datetime.now(tz=UTC))
    engine.dispose()
    os.environ.update(devnet.pipeline_env(db_url, gamma_max_rps=rps, gamma_batch_size=BATCH))
    with GammaContext.from_settings(load_settings()) as ctx:
        first = sync_markets(ctx)
        stats = devnet.gamma()
        sync_markets(ctx)  # everything known: asks nothing
    after = devnet.gamma()
    bound = math.ceil(tokens / BATCH)
    return [
        db_url.split(":")[0], tokens, f"{rps:g}/s", f"{faults:.0%}", first.outcomes_saved,
        stats["requests"], bound, stats["faults"], stats["throttled"], stats["peak_rps_served"],
        f"{first.seconds:.1f}s", f"{tokens / first.seconds:,.0f}",
        after["requests"] - stats["requests"],
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    with running_devnet() as devnet, scratch_databases() as stores:
        for name in args.stores.split(","):
            for rps, faults in RUNS:
                with scratch_databases() as fresh:
                    rows.append(_run(devnet, fresh[name], args.tokens, rps, faults))
        del stores
    header = [
        "store", "tokens", "Gamma budget", "5xx", "outcomes stored", "Gamma requests",
        "ceil(tokens/50)", "5xx answered", "429s", "peak 1-s served", "time", "tokens/s",
        "requests of a 2nd sync",
    ]  # fmt: skip
    print(markdown_table(header, rows))
    print(f"\nload {'/'.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
