"""Dagster definitions (loaded by workspace.yaml): thin wrappers over sync/."""

from __future__ import annotations

from dagster import Definitions, EnvVar

from polygon_pipeline.defs.api_mode import api_trades, source_comparison
from polygon_pipeline.defs.assets import leader_daily_summaries, leader_fills
from polygon_pipeline.defs.automation import (
    block_windows_sensor,
    reconcile_recent_schedule,
    watcher_health_schedule,
)
from polygon_pipeline.defs.checks import (
    live_feed_matches_reconciliation,
    no_coverage_gaps,
    no_duplicate_fills,
    watcher_heartbeat_recent,
)
from polygon_pipeline.defs.jobs import (
    reconcile_recent_job,
    reconcile_windows_job,
    watcher_health_job,
)
from polygon_pipeline.defs.leader_history import (
    leader_histories_complete,
    leader_history,
    leader_history_job,
    leaders_sensor,
)
from polygon_pipeline.defs.live_feed import live_fills
from polygon_pipeline.defs.resources import PipelineResource

defs = Definitions(
    assets=[
        live_fills,
        leader_fills,
        leader_history,
        leader_daily_summaries,
        api_trades,
        source_comparison,
    ],
    asset_checks=[
        no_duplicate_fills,
        no_coverage_gaps,
        watcher_heartbeat_recent,
        live_feed_matches_reconciliation,
        leader_histories_complete,
    ],
    jobs=[reconcile_windows_job, reconcile_recent_job, watcher_health_job, leader_history_job],
    sensors=[block_windows_sensor, leaders_sensor],
    schedules=[reconcile_recent_schedule, watcher_health_schedule],
    resources={
        # EnvVar: resolved in each run's process, never stored in run config or shown.
        "pipeline": PipelineResource(rpc_url=EnvVar("POLYGON_RPC_URL")),
    },
)
