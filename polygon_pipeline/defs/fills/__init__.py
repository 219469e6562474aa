"""Reconciled fills by exchange and block window: the leader_fills asset, its checks (per cell
and whole-store), the window sensor,
the mini-reconciliation and checks schedules, and their jobs."""

from dagster import Definitions

from polygon_pipeline.defs.fills.assets import leader_fills
from polygon_pipeline.defs.fills.automation import (
    block_windows_sensor,
    fill_checks_schedule,
    reconcile_recent_schedule,
)
from polygon_pipeline.defs.fills.checks import (
    CELL_CHECKS,
    live_feed_matches_reconciliation,
    no_coverage_gaps,
)
from polygon_pipeline.defs.fills.jobs import (
    fill_checks_job,
    reconcile_recent_job,
    reconcile_windows_job,
    register_windows_job,
)

definitions = Definitions(
    assets=[leader_fills],
    asset_checks=[*CELL_CHECKS, no_coverage_gaps, live_feed_matches_reconciliation],
    jobs=[reconcile_windows_job, reconcile_recent_job, fill_checks_job, register_windows_job],
    sensors=[block_windows_sensor],
    schedules=[reconcile_recent_schedule, fill_checks_schedule],
)
