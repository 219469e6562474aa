"""Runless materializations for assets that the command-line daemons write outside Dagster
runs (the watcher's `live_fills`, `api-poll`'s `api_trades`), so that the catalog and the
lineage show them materialized when they are. Dagster's way for data written by an outside
process: `DagsterInstance.report_runless_asset_event` (docs/dagster.md)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import AssetKey, DagsterInstance

REPORT_EVERY_S = 60.0
API_TRADES = "api_trades"  # the asset's key (defs/api_mode/assets.py), written by api-poll


def reporting_instance() -> DagsterInstance | None:
    """The Dagster instance DAGSTER_HOME names, if any. Dagster is imported only then: a slow
    import, and the daemons need none of the Definitions."""
    if not os.environ.get("DAGSTER_HOME"):
        return None
    from dagster import DagsterInstance

    return DagsterInstance.get()


class RunlessReporter:
    """Reports an asset written by this process at most every REPORT_EVERY_S seconds, and only
    when it wrote something since the last report (the first write is reported at once)."""

    def __init__(self, instance: DagsterInstance, asset_key: AssetKey | str, description: str):
        self.instance = instance
        self.asset_key = asset_key
        self.description = description
        self._reported = 0
        self._next_at = 0.0

    def report(self, written_total: int, unit: str, metadata: dict) -> None:
        """`written_total`: the rows written since start; `unit`: what they are ("fills")."""
        from dagster import AssetMaterialization

        if time.monotonic() < self._next_at or written_total <= self._reported:
            return
        self._next_at = time.monotonic() + REPORT_EVERY_S
        self.instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=self.asset_key,
                description=self.description,
                metadata={
                    f"{unit}_written_since_last_report": written_total - self._reported,
                    f"{unit}_written_total": written_total,
                    **metadata,
                },
            )
        )
        self._reported = written_total
