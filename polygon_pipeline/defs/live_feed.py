"""The live watcher's feed as an external asset: it is written outside Dagster (by
`polygon-pipeline watch`), which reports materializations to the instance without runs."""

from __future__ import annotations

import os
import time

from dagster import AssetKey, AssetMaterialization, AssetSpec, DagsterInstance, MetadataValue

from polygon_pipeline.sync.watcher_status import WatcherStatus

LIVE_FILLS = AssetKey("live_fills")
REPORT_EVERY_S = 60.0

live_fills = AssetSpec(
    LIVE_FILLS,
    description="Leader fills written by the live WebSocket watcher (`polygon-pipeline watch`), "
    "source `ws` in the fills table. Reported by the watcher, never launched as a run.",
    group_name="polygon",
    kinds={"websocket", "sql"},
)


class LiveFeedReporter:
    """Reports the watcher's progress on `live_fills` at most every REPORT_EVERY_S seconds,
    and only when it wrote something since the last report."""

    def __init__(self, instance: DagsterInstance):
        self.instance = instance
        self._reported_fills = 0
        self._next_at = 0.0

    @classmethod
    def from_environment(cls) -> LiveFeedReporter | None:
        """None unless DAGSTER_HOME names the instance to report to."""
        if not os.environ.get("DAGSTER_HOME"):
            return None
        return cls(DagsterInstance.get())

    def __call__(self, status: WatcherStatus) -> None:
        if time.monotonic() < self._next_at or status.fills_written <= self._reported_fills:
            return
        self._next_at = time.monotonic() + REPORT_EVERY_S
        figures = status.as_json()
        self.instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=LIVE_FILLS,
                description="live fills written by the watcher",
                metadata={
                    "fills_written_since_last_report": status.fills_written - self._reported_fills,
                    "fills_written_total": status.fills_written,
                    "fills_retracted_total": status.fills_retracted,
                    "last_head_number": MetadataValue.int(figures["last_head_number"] or 0),
                    "reconnects": status.reconnects,
                    "leaders_watched": status.leaders_watched,
                },
            )
        )
        self._reported_fills = status.fills_written
