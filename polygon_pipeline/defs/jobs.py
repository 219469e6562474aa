"""Jobs: reconciling block windows (launched by the sensor or the UI) and the periodic
mini-reconciliation from the cursor."""

from dagster import AssetSelection, OpExecutionContext, Output, define_asset_job, job, op

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.assets import RPC_POOL, leader_fills
from polygon_pipeline.defs.checks import watcher_heartbeat_recent
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.sync.reconcile import reconcile

# Runs with this tag are limited by dagster.yaml's tag_concurrency_limits.
RPC_TAGS = {"polygon_pipeline/rpc": "reconcile"}

reconcile_windows_job = define_asset_job(
    "reconcile_windows",
    selection=[leader_fills],
    tags=RPC_TAGS,
    description="Reconcile block windows of the leader fills, one exchange per run.",
)


watcher_health_job = define_asset_job(
    "watcher_health",
    selection=AssetSelection.checks(watcher_heartbeat_recent),
    description="The live watcher's heartbeat check on its own, for the schedule.",
)


@op(pool=RPC_POOL)
def reconcile_recent(context: OpExecutionContext, pipeline: PipelineResource) -> Output[str]:
    """Both exchanges from the cursor (less the safety overlap) to the finalized head: catches
    whatever the live watcher missed, a few blocks at a time."""
    ctx = pipeline.sync_context()
    try:
        report = reconcile(ctx, list(EXCHANGES))
    finally:
        ctx.close()
    context.log.info(report.summary())
    return Output(
        report.summary(),
        metadata={
            "from_block": report.from_block,
            "to_block": report.to_block,
            "fills_found": report.fills_found,
            "fills_written": report.fills_written,
            "fills_retracted": report.retracted,
            "eth_getLogs_calls": report.getlogs_calls,
            "throttled_429s": report.throttles,
        },
    )


@job(tags=RPC_TAGS, description="Periodic mini-reconciliation of the newest finalized blocks.")
def reconcile_recent_job() -> None:
    reconcile_recent()
