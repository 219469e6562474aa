"""The watcher's reports to Dagster: runless materializations of the external `live_fills`
asset (defined in defs/live/live_fills.py). Kept apart from the Definitions so that the watch
command can report without loading them."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, MetadataValue

from polygon_pipeline.sync.dagster_reports import RunlessReporter
from polygon_pipeline.sync.watcher_status import WatcherStatus

LIVE_FILLS = AssetKey("live_fills")


class LiveFeedReporter(RunlessReporter):
    """The watcher's progress on `live_fills` (sync/dagster_reports.py says how often)."""

    def __init__(self, instance: DagsterInstance):
        super().__init__(instance, LIVE_FILLS, "live fills written by the watcher")

    def __call__(self, status: WatcherStatus) -> None:
        self.report(
            status.fills_written,
            "fills",
            {
                "fills_retracted_total": status.fills_retracted,
                "last_head_number": MetadataValue.int(status.last_head_number or 0),
                "reconnects": status.reconnects,
                "leaders_watched": status.leaders_watched,
            },
        )
