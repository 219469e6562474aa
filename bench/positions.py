"""Benchmark 15: what following the ledgers costs: `eth_getLogs` calls (the devnet
provider's counters) of the same backfill with and without the `ledgers` family, the logs
each brings back, and the resolution look-up of a positions computation (markets synced first).

    .venv/bin/python -m bench.positions [--blocks 300] [--per-block 10] [--range 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import markdown_table, mine_buried, running_devnet, sync_context
from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.settings import load_settings
from polygon_pipeline.sync.context import GammaContext
from polygon_pipeline.sync.markets import sync_markets
from polygon_pipeline.sync.positions import all_positions
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline.sync.resolutions import fetch_resolutions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=300)
    parser.add_argument("--per-block", type=int, default=10)
    parser.add_argument("--range", type=int, default=10)
    args = parser.parse_args()
    fills_only = [name for name in EXCHANGES if name != "ledgers"]
    rows = []
    with running_devnet() as devnet, tempfile.TemporaryDirectory() as tmp:
        devnet.configure(getlogs_max_range=args.range)
        start, end = mine_buried(devnet, args.blocks, args.per_block)
        leaders = devnet.info()["leaders"]
        for name, exchanges in (("fills only", fills_only), ("fills + ledgers", list(EXCHANGES))):
            db = f"sqlite:///{Path(tmp) / (name.replace(' ', '_') + '.db')}"
            ctx = sync_context(devnet, db, leaders, backfill_max_range=args.range)
            devnet.reset_stats()
            began = time.monotonic()
            report = reconcile(ctx, exchanges, 0, end)
            seconds = time.monotonic() - began
            calls = devnet.stats()["calls"].get("eth_getLogs", 0)
            with GammaContext.from_settings(load_settings()) as gamma:
                sync_markets(gamma)  # the token -> condition map the look-up needs
            devnet.reset_stats()
            resolutions = fetch_resolutions(ctx) if "ledgers" in exchanges else None
            positions = len(all_positions(ctx.engine)) if resolutions else 0
            rows.append([
                name, end + 1, calls, report.fills_found, report.transfers_found,
                devnet.stats()["calls"].get("eth_getLogs", 0) if resolutions else "-",
                positions, f"{seconds:.1f}",
            ])  # fmt: skip
            ctx.close()
    print(markdown_table(
        ["backfill", "blocks", "eth_getLogs", "fills", "transfers (logs)",
         "resolution look-up calls", "positions", "seconds"],
        rows,
    ))  # fmt: skip


if __name__ == "__main__":
    main()
