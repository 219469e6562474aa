"""What runs leader_fills by itself: the sensor that registers block windows as the
finalized head passes them and requests their runs, the mini-reconciliation schedule, and
the checks' schedule."""

from dagster import (
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

from polygon_pipeline.defs.fills.jobs import (
    fill_checks_job,
    reconcile_recent_job,
    reconcile_windows_job,
)
from polygon_pipeline.defs.fills.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    UNFINISHED_RUNS,
    cell_key,
)
from polygon_pipeline.defs.loaded_settings import DEFINITION_SETTINGS
from polygon_pipeline.defs.policies import WINDOW_TAGS
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.settings import ConfigError, Settings
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.window_keys import (
    register_through,
    window_of,
    window_origin,
    windows_between,
)
from polygon_pipeline.sync.windows import EXCHANGE_NAMES

MAX_NEW_WINDOWS = 200  # per evaluation, so a first start far behind stays a quick tick


def first_window(settings: Settings, finalized: int) -> int:
    """The first window the sensor launches: POLYGON_PARTITIONS_START_BLOCK's window, else the
    last window already closed (older ones are registered, for a backfill to take)."""
    size = settings.partition_window_blocks
    if settings.partitions_start_block is not None:
        return window_of(settings.partitions_start_block, size)
    return max(window_origin(settings), window_of(finalized, size) - size)


@sensor(
    job=reconcile_windows_job,
    minimum_interval_seconds=DEFINITION_SETTINGS.window_sensor_interval_s,
    default_status=DefaultSensorStatus.RUNNING,
    description="Registers each block window once the finalized head has passed it (ascending "
    "from the first venue's window), and requests its reconciliation on every exchange as one "
    "run, from POLYGON_PARTITIONS_START_BLOCK's window or the last closed at its first tick "
    "(one RPC call per evaluation); many windows closed at once go in runs of up to "
    "POLYGON_WINDOWS_PER_RUN windows.",
)
def block_windows_sensor(context: SensorEvaluationContext, pipeline: Pipeline):
    with pipeline.sync_context(check_chain=False) as ctx:
        finalized = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
        settings = ctx.settings
    size = settings.partition_window_blocks
    start = int(context.cursor) if context.cursor else first_window(settings, finalized)
    last = min(finalized, start + MAX_NEW_WINDOWS * size - 1)
    closed = windows_between(start, last, size)
    if not closed:
        return SensorResult(
            skip_reason=f"no window closed yet (finalized head {finalized})", cursor=str(start)
        )
    register_through(context.instance, window_origin(settings), size, finalized)
    per_run = settings.windows_per_run
    return SensorResult(
        run_requests=[window_run(closed[i : i + per_run]) for i in range(0, len(closed), per_run)],
        cursor=str(start + len(closed) * size),
    )


def window_run(keys: list[str]) -> RunRequest:
    """One run over consecutive windows on every exchange: the rectangle of the grid from the
    first exchange's first window to the last exchange's last (the run queries them in one
    filter per merged range)."""
    first, last = cell_key(EXCHANGE_NAMES[0], keys[0]), cell_key(EXCHANGE_NAMES[-1], keys[-1])
    return RunRequest(
        run_key=keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}",
        tags={**WINDOW_TAGS, RANGE_START_TAG: first, RANGE_END_TAG: last},
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
