"""What checking every fetched fill's block against its header costs (docs/providers.md, "A
fabricated log alone in its block"): the same 500 devnet blocks backfilled with
POLYGON_VERIFY_BLOCK_HASHES on and off, at a 500- and a 10-block range, for one leader and
for the devnet's trading leaders, each run with an empty block-time cache (a new process).
Calls are the devnet emulator's counters; logs carry `blockTimestamp`, as on the providers
that send it (without it the headers are fetched either way).

    .venv/bin/python -m bench.block_checks
"""

from __future__ import annotations

from bench.common import markdown_table, mine_buried, running_devnet, scratch_sync
from polygon_pipeline.chain.block_times import BlockTimestamps
from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.sync.reconcile import reconcile

BLOCKS = 500


def main() -> None:
    rows = []
    with running_devnet() as devnet:
        start, end = mine_buried(devnet, BLOCKS, per_block=4)
        trading = devnet.info()["leaders"]
        for leaders in (trading[:1], trading):
            for cap in (BLOCKS, 10):
                for verify in (False, True):
                    devnet.reset_stats()
                    with scratch_sync(
                        devnet, leaders, backfill_max_range=cap, verify_block_hashes=verify
                    ) as ctx:
                        ctx.block_times = BlockTimestamps()
                        report = reconcile(ctx, list(EXCHANGES), start, end)
                        with ctx.engine.connect() as conn:
                            blocks = len({r["block_hash"] for r in fetch_fills(conn)})
                    calls = devnet.stats()["calls"]
                    logs, headers = calls["eth_getLogs"], calls.get("eth_getBlockByHash", 0)
                    rows.append(
                        [
                            len(leaders),
                            cap,
                            "on" if verify else "off",
                            report.fills_found,
                            blocks,
                            logs,
                            headers,
                            f"{(logs + headers) / logs:.1f}x",
                        ]
                    )
                    print(rows[-1], flush=True)
    print(
        markdown_table(
            [
                "leaders",
                "range",
                "verify",
                "leader fills",
                "blocks holding them",
                "eth_getLogs",
                "eth_getBlockByHash",
                "calls vs getLogs alone",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
