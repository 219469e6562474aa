"""Dagster definitions (loaded by workspace.yaml): thin wrappers over sync/."""

from __future__ import annotations

from dagster import Definitions, EnvVar, in_process_executor

from polygon_pipeline.defs.api_mode import api_trades, source_comparison
from polygon_pipeline.defs.assets import leader_daily_summaries, leader_fills
from polygon_pipeline.defs.automation import (
    block_windows_sensor,
    derived_assets_automation,
    fill_checks_schedule,
    reconcile_recent_schedule,
    watcher_health_sensor,
)
from polygon_pipeline.defs.checks import (
    live_feed_matches_reconciliation,
    no_coverage_gaps,
    watcher_heartbeat_recent,
)
from polygon_pipeline.defs.jobs import (
    fill_checks_job,
    reconcile_recent_job,
    reconcile_windows_job,
    register_windows_job,
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
        no_coverage_gaps,
        watcher_heartbeat_recent,
        live_feed_matches_reconciliation,
        leader_histories_complete,
    ],
    jobs=[
        reconcile_windows_job,
        reconcile_recent_job,
        fill_checks_job,
        register_windows_job,
        leader_history_job,
    ],
    sensors=[
        block_windows_sensor,
        watcher_health_sensor,
        leaders_sensor,
        derived_assets_automation,
    ],
    schedules=[reconcile_recent_schedule, fill_checks_schedule],
    # Steps wait on the provider, not the CPU: a process per step would only add start-up
    # time (UI backfills use this executor too).
    executor=in_process_executor,
    resources={
        # EnvVar: resolved in each run's process, never stored in run config or shown.
        "pipeline": PipelineResource(rpc_url=EnvVar("POLYGON_RPC_URL")),
    },
)
