"""What runs by itself: a sensor that registers block windows as the finalized head passes
them and requests their runs, and the schedule of the mini-reconciliation."""

import os

from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MultiPartitionKey,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.jobs import (
    RPC_TAGS,
    reconcile_recent_job,
    reconcile_windows_job,
    watcher_health_job,
)
from polygon_pipeline.defs.partitions import (
    window_blocks,
    window_key,
    window_of,
    window_partitions,
)
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.sync.head import finalized_head

MAX_NEW_WINDOWS = 200  # per evaluation, so a first start far behind stays a quick tick
SENSOR_INTERVAL_S = int(os.environ.get("POLYGON_WINDOW_SENSOR_INTERVAL_S", "30"))
RECONCILE_CRON = os.environ.get("POLYGON_RECONCILE_CRON", "*/5 * * * *")


def first_window(finalized: int, size: int) -> int:
    """POLYGON_PARTITIONS_START_BLOCK's window, else the last window already closed."""
    configured = os.environ.get("POLYGON_PARTITIONS_START_BLOCK")
    if configured:
        return window_of(int(configured), size)
    return max(0, window_of(finalized, size) - size)


@sensor(
    job=reconcile_windows_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Registers each block window once the finalized head has passed it, and "
    "requests its reconciliation on both exchanges (one RPC call per evaluation).",
)
def block_windows_sensor(context: SensorEvaluationContext, pipeline: PipelineResource):
    ctx = pipeline.sync_context(check_chain=False)
    try:
        finalized = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
    finally:
        ctx.close()
    size = window_blocks()
    start = int(context.cursor) if context.cursor else first_window(finalized, size)
    new_keys = []
    while start + size - 1 <= finalized and len(new_keys) < MAX_NEW_WINDOWS:
        new_keys.append(window_key(start, size))
        start += size
    if not new_keys:
        return SensorResult(
            skip_reason=f"no window closed yet (finalized head {finalized})", cursor=str(start)
        )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"{exchange}|{key}",
                partition_key=MultiPartitionKey({"exchange": exchange, "window": key}),
                tags=RPC_TAGS,
            )
            for key in new_keys
            for exchange in EXCHANGES
        ],
        dynamic_partitions_requests=[window_partitions.build_add_request(new_keys)],
        cursor=str(start),
    )


watcher_health_schedule = ScheduleDefinition(
    job=watcher_health_job,
    cron_schedule="*/2 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Runs the watcher heartbeat check every two minutes (no RPC).",
)

reconcile_recent_schedule = ScheduleDefinition(
    job=reconcile_recent_job,
    cron_schedule=RECONCILE_CRON,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Mini-reconciliation from the cursor to the finalized head "
    "(POLYGON_RECONCILE_CRON, default every 5 minutes).",
)
