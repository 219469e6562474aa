"""The watcher's reports to Dagster: runless materializations of the external `live_fills`
asset (defined in defs/live/live_fills.py). Kept apart from the Definitions so that the watch
command can report without loading them."""

from __future__ import annotations

import time

from dagster import AssetKey, AssetMaterialization, DagsterInstance, MetadataValue

from polygon_pipeline.sync.watcher_status import WatcherStatus

LIVE_FILLS = AssetKey("live_fills")
REPORT_EVERY_S = 60.0


class LiveFeedReporter:
    """Reports the watcher's progress on `live_fills` at most every REPORT_EVERY_S seconds,
    and only when it wrote something since the last report."""

    def __init__(self, instance: DagsterInstance):
        self.instance = instance
        self._reported_fills = 0
        self._next_at = 0.0

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
