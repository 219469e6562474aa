"""Jobs: reconciling block windows (launched by the sensor or a backfill), the periodic
mini-reconciliation from the cursor, the checks on their own cadence, and registering
windows in bulk. Every step is light (it waits on the provider): all run in process."""

from dagster import (
    AssetObservation,
    AssetSelection,
    Config,
    OpExecutionContext,
    define_asset_job,
    in_process_executor,
    job,
    op,
)

from polygon_pipeline.defs.fills.assets import leader_fills, reconcile_metadata
from polygon_pipeline.defs.fills.checks import (
    CELL_CHECKS,
    live_feed_matches_reconciliation,
    no_coverage_gaps,
)
from polygon_pipeline.defs.fills.partitions import newest_window_end
from polygon_pipeline.defs.policies import (
    RECENT_POOL,
    RECENT_TAGS,
    WINDOW_TAGS,
    refusals_not_retried,
)
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.window_keys import register_through, window_origin
from polygon_pipeline.sync.windows import RunTotals, reconcile_above_windows

reconcile_windows_job = define_asset_job(
    "reconcile_windows",
    selection=AssetSelection.assets(leader_fills).without_checks()
    | AssetSelection.checks(*CELL_CHECKS),
    tags=WINDOW_TAGS,
    executor_def=in_process_executor,
    description="Reconcile block windows of the leader fills, all exchanges at once, with each "
    "cell's own checks (evaluated in the run).",
)

fill_checks_job = define_asset_job(
    "fill_checks",
    selection=AssetSelection.checks(no_coverage_gaps, live_feed_matches_reconciliation),
    executor_def=in_process_executor,
    description="The checks on the fills table, on their own cadence (no RPC).",
)


@op(pool=RECENT_POOL)
def reconcile_recent(context: OpExecutionContext, pipeline: Pipeline) -> None:
    """Every exchange from the cursor (less the safety overlap) to the finalized head, but
    not below the newest registered block window (windows are their runs' to reconcile, so
    a cursor held back by a backfill of older windows is not chased): catches whatever the
    live watcher missed, a few blocks at a time. Recorded as an observation of
    leader_fills, so the lineage shows it."""
    newest = newest_window_end(context.instance)
    with refusals_not_retried(), pipeline.sync_context() as ctx:
        report = reconcile_above_windows(ctx, newest)
    context.log.info(report.summary())
    context.log_event(
        AssetObservation(
            asset_key=leader_fills.key,
            description="mini-reconciliation from the cursor",
            metadata=reconcile_metadata(RunTotals.of([report])),
        )
    )


@job(
    tags=RECENT_TAGS,
    executor_def=in_process_executor,
    description="Periodic mini-reconciliation of the newest finalized blocks.",
)
def reconcile_recent_job() -> None:
    reconcile_recent()


class WindowRange(Config):
    """The last block to cover with windows (from the origin); default the finalized head."""

    to_block: int | None = None


@op
def register_block_windows(
    context: OpExecutionContext, config: WindowRange, pipeline: Pipeline
) -> None:
    """Register every whole window from the origin (appending after the newest) up to the
    block, so that a year of history is one backfill over a range in the UI."""
    last = config.to_block
    if last is None:
        with refusals_not_retried(), pipeline.sync_context(check_chain=False) as ctx:
            last = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
    settings = pipeline.settings()
    origin = window_origin(settings)
    registered = register_through(context.instance, origin, settings.partition_window_blocks, last)
    context.log.info(f"{registered.summary()} (blocks {origin}..{last})")


@job(executor_def=in_process_executor, description="Register block windows in bulk.")
def register_windows_job() -> None:
    register_block_windows()
