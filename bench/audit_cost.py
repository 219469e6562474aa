"""Benchmark 12, the audit's bill: `eth_getLogs` calls to audit every window of a history
against a second provider, beside the backfill that filled it from the first. Calls are read
from each emulator's own counters (`devnet up --providers 2`).

    .venv/bin/python -m bench.audit_cost
"""

from __future__ import annotations

import tempfile

from bench.common import markdown_table, mine_buried, running_devnet, sync_context
from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.sync.audit import audit
from polygon_pipeline.sync.reconcile import reconcile

BLOCKS = 2_000
WINDOW = 500  # POLYGON_PARTITION_WINDOW_BLOCKS: 4 windows
RANGE = 100  # POLYGON_BACKFILL_MAX_RANGE
CASES = (  # (first provider's omitted share, POLYGON_AUDIT_SHARE)
    (0.0, 1.0),
    (0.05, 1.0),
    (0.0, 0.5),
)


def _getlogs(devnet, n: int) -> int:
    return devnet.provider_stats(n)["served"].get("eth_getLogs", 0)


def main() -> None:
    rows = []
    with running_devnet("--providers", "2") as devnet:
        start, end = mine_buried(devnet, BLOCKS, per_block=4)
        leaders = devnet.info()["leaders"]
        settings = {
            "rpc_max_rps": 1000,
            "backfill_max_range": RANGE,
            "partition_window_blocks": WINDOW,
        }
        for omitted, share in CASES:
            for n in (0, 1):
                devnet.configure_provider(n, omit_logs_share=omitted if n == 0 else 0.0)
                devnet.reset_provider_stats(n)
            with tempfile.TemporaryDirectory() as tmp:
                db_url = f"sqlite:///{tmp}/a.db"
                first = devnet.env["POLYGON_RPC_URLS"].split(",")[0]
                alone = sync_context(
                    devnet, db_url, leaders, rpc_urls=first, ws_urls=devnet.ws_url, **settings
                )
                reconcile(alone, list(EXCHANGES), start, end)
                alone.close()
                backfill_calls = _getlogs(devnet, 0)
                both = sync_context(devnet, db_url, leaders, **settings)
                report = audit(both, start, end, share)
                both.close()
            audited = [w for w in report.windows if not w.skipped]
            rows.append(
                [
                    f"{omitted:.0%}",
                    f"{share:.0%}",
                    f"{len(audited)} of {len(report.windows)}",
                    backfill_calls,
                    _getlogs(devnet, 1),
                    _getlogs(devnet, 0) - backfill_calls,
                    len(report.missing),
                ]
            )
    print(
        f"{BLOCKS} blocks ({start}..{end}), 4 fills a block, {len(leaders)} leaders (one batch), "
        f"roles maker,taker, range {RANGE}, windows of {WINDOW} blocks"
    )
    print(
        markdown_table(
            [
                "first provider leaves out",
                "POLYGON_AUDIT_SHARE",
                "windows audited",
                "backfill eth_getLogs (first provider)",
                "audit eth_getLogs at the second",
                "audit eth_getLogs at the first (re-read of differing windows)",
                "missing fills found and written",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
