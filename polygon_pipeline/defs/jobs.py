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

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.assets import leader_fills, reconcile_metadata
from polygon_pipeline.defs.checks import live_feed_matches_reconciliation, no_coverage_gaps
from polygon_pipeline.defs.partitions import (
    newest_window_end,
    register_windows,
    window_blocks,
    windows_between,
)
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import reconcile

# Runs with these tags are limited by dagster.yaml's tag_concurrency_limits, each kind on its
# own: window runs launched by the sensor (two at once), leader histories (two at once), the
# mini-reconciliation (one). Backfill runs are limited by their `dagster/backfill` tag.
RPC_TAG = "polygon_pipeline/rpc"
WINDOW_TAGS = {RPC_TAG: "windows"}
HISTORY_TAGS = {RPC_TAG: "history"}
# The mini-reconciliation has its own lane and its own pool, so it never waits for a slot a
# backfill holds; it also goes ahead of any queued run (higher priority first).
RECENT_TAGS = {RPC_TAG: "recent", "dagster/priority": "10"}
RECENT_POOL = "polygon_rpc_recent"

reconcile_windows_job = define_asset_job(
    "reconcile_windows",
    selection=AssetSelection.assets(leader_fills).without_checks(),
    tags=WINDOW_TAGS,
    executor_def=in_process_executor,
    description="Reconcile block windows of the leader fills, all exchanges at once.",
)

fill_checks_job = define_asset_job(
    "fill_checks",
    selection=AssetSelection.checks(no_coverage_gaps, live_feed_matches_reconciliation),
    executor_def=in_process_executor,
    description="The checks on the fills table, on their own cadence (no RPC).",
)


@op(pool=RECENT_POOL)
def reconcile_recent(context: OpExecutionContext, pipeline: PipelineResource) -> None:
    """Every exchange from the cursor (less the safety overlap) to the finalized head, but
    not below the newest registered block window (windows are their runs' to reconcile, so
    a cursor held back by a backfill of older windows is not chased): catches whatever the
    live watcher missed, a few blocks at a time. Recorded as an observation of
    leader_fills, so the lineage shows it."""
    newest = newest_window_end(context.instance)
    with pipeline.sync_context() as ctx:
        overlap = ctx.settings.backfill_safety_overlap
        floor = None if newest is None else max(0, newest + 1 - overlap)
        report = reconcile(ctx, list(EXCHANGES), floor=floor)
    context.log.info(report.summary())
    context.log_event(
        AssetObservation(
            asset_key=leader_fills.key,
            description="mini-reconciliation from the cursor",
            metadata=reconcile_metadata([report]),
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
    """Blocks to cover with windows; the last defaults to the finalized head."""

    from_block: int
    to_block: int | None = None


@op
def register_block_windows(
    context: OpExecutionContext, config: WindowRange, pipeline: PipelineResource
) -> None:
    """Register every whole window in the range, in ascending order, so that a year of
    history is one backfill over a range in the UI."""
    last = config.to_block
    if last is None:
        with pipeline.sync_context(check_chain=False) as ctx:
            last = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
    keys = windows_between(config.from_block, last, window_blocks())
    registered = register_windows(context.instance, keys)
    context.log.info(f"{registered.summary()} (of {len(keys)} in {config.from_block}..{last})")


@job(executor_def=in_process_executor, description="Register block windows in bulk.")
def register_windows_job() -> None:
    register_block_windows()
