"""The live watcher's feed as an external asset: it is written outside Dagster (by
`polygon-pipeline watch`), which reports materializations to the instance without runs
(sync/live_feed_report.py)."""

from __future__ import annotations

from dagster import AssetSpec

from polygon_pipeline.defs.policies import GROUP
from polygon_pipeline.sync.live_feed_report import LIVE_FILLS

live_fills = AssetSpec(
    LIVE_FILLS,
    description="Leader fills written by the live WebSocket watcher (`polygon-pipeline watch`), "
    "source `ws` in the fills table. Reported by the watcher, never launched as a run.",
    group_name=GROUP,
    kinds={"websocket", "sql"},
)
