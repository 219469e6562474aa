"""The live watcher, which runs outside Dagster: its feed as an external asset and its
health as a check reported without runs."""

from dagster import Definitions

from polygon_pipeline.defs.live.live_fills import live_fills
from polygon_pipeline.defs.live.watcher_health import (
    watcher_health_sensor,
    watcher_heartbeat_recent,
)

definitions = Definitions(
    assets=[live_fills],
    asset_checks=[watcher_heartbeat_recent],
    sensors=[watcher_health_sensor],
)
