"""What runs by itself: the sensor that registers block windows as the finalized head passes
them and requests their runs, the mini-reconciliation and checks schedules, the watcher's
health reported without runs, and the automation of the derived assets."""

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterInvalidDefinitionError,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from polygon_pipeline.defs.api_mode import source_comparison
from polygon_pipeline.defs.assets import DEFINITION_SETTINGS, leader_daily_summaries
from polygon_pipeline.defs.checks import watcher_health, watcher_heartbeat_recent
from polygon_pipeline.defs.jobs import (
    WINDOW_TAGS,
    fill_checks_job,
    reconcile_recent_job,
    reconcile_windows_job,
)
from polygon_pipeline.defs.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    UNFINISHED_RUNS,
    ReorderRefused,
    register_windows,
    window_blocks,
    window_of,
    windows_between,
)
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.settings import ConfigError, load_settings
from polygon_pipeline.sync.head import finalized_head

MAX_NEW_WINDOWS = 200  # per evaluation, so a first start far behind stays a quick tick


def first_window(finalized: int, size: int) -> int:
    """POLYGON_PARTITIONS_START_BLOCK's window, else the last window already closed."""
    configured = load_settings().partitions_start_block
    if configured is not None:
        return window_of(configured, size)
    return max(0, window_of(finalized, size) - size)


@sensor(
    job=reconcile_windows_job,
    minimum_interval_seconds=DEFINITION_SETTINGS.window_sensor_interval_s,
    default_status=DefaultSensorStatus.RUNNING,
    description="Registers each block window once the finalized head has passed it, and "
    "requests its reconciliation (one RPC call per evaluation); many windows closed at once "
    "go in runs of up to POLYGON_WINDOWS_PER_RUN windows.",
)
def block_windows_sensor(context: SensorEvaluationContext, pipeline: PipelineResource):
    with pipeline.sync_context(check_chain=False) as ctx:
        finalized = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
    size = window_blocks()
    start = int(context.cursor) if context.cursor else first_window(finalized, size)
    last = min(finalized, start + MAX_NEW_WINDOWS * size - 1)
    closed = windows_between(start, last, size)
    if not closed:
        return SensorResult(
            skip_reason=f"no window closed yet (finalized head {finalized})", cursor=str(start)
        )
    try:
        register_windows(context.instance, closed)  # ascending, older windows included
    except ReorderRefused as exc:
        return SensorResult(skip_reason=str(exc), cursor=str(start))  # tried again next tick
    per_run = load_settings().windows_per_run
    return SensorResult(
        run_requests=[window_run(closed[i : i + per_run]) for i in range(0, len(closed), per_run)],
        cursor=str(start + len(closed) * size),
    )


def window_run(keys: list[str]) -> RunRequest:
    """One run over consecutive windows: a partition, or a range of them (the run merges
    them into one block range), as a backfill's run would get them."""
    if len(keys) == 1:
        return RunRequest(run_key=keys[0], partition_key=keys[0], tags=WINDOW_TAGS)
    return RunRequest(
        run_key=f"{keys[0]}..{keys[-1]}",
        tags={**WINDOW_TAGS, RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
    )


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Reports the live watcher's heartbeat check every minute, without a run.",
)
def watcher_health_sensor(context: SensorEvaluationContext, pipeline: PipelineResource):
    passed, metadata = watcher_health(pipeline)
    (check_key,) = watcher_heartbeat_recent.check_keys
    return SensorResult(
        asset_events=[
            AssetCheckEvaluation(
                asset_key=check_key.asset_key,
                check_name=check_key.name,
                passed=passed,
                severity=AssetCheckSeverity.WARN,
                metadata=metadata,
            )
        ]
    )


def _reconcile_recent_schedule():
    try:

        @schedule(
            job=reconcile_recent_job,
            cron_schedule=DEFINITION_SETTINGS.reconcile_cron,
            default_status=DefaultScheduleStatus.RUNNING,
            description="Mini-reconciliation from the cursor to the finalized head "
            "(POLYGON_RECONCILE_CRON, default every 5 minutes); a tick is skipped while the "
            "previous one is still queued or running.",
        )
        def reconcile_recent_schedule(context: ScheduleEvaluationContext):
            waiting = context.instance.get_runs_count(
                RunsFilter(job_name=reconcile_recent_job.name, statuses=UNFINISHED_RUNS)
            )
            if waiting:
                return SkipReason("the previous mini-reconciliation has not finished yet")
            return RunRequest()

    except DagsterInvalidDefinitionError as exc:
        raise ConfigError(f"POLYGON_RECONCILE_CRON: {exc}") from None
    return reconcile_recent_schedule


reconcile_recent_schedule = _reconcile_recent_schedule()

fill_checks_schedule = ScheduleDefinition(
    job=fill_checks_job,
    cron_schedule="*/10 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="The fills table's checks every ten minutes (no RPC).",
)

derived_assets_automation = AutomationConditionSensorDefinition(
    "derived_assets_automation",
    target=AssetSelection.assets(leader_daily_summaries, source_comparison),
    default_status=DefaultSensorStatus.RUNNING,
    description="Keeps the daily summaries and the source comparison fresh (their "
    "automation conditions: every 15 minutes).",
)
