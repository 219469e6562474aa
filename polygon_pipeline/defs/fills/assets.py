"""leader_fills: every leader fill of a block window, reconciled by a run over one or more
windows (sync/windows.py), with each window's figures and the run's as metadata."""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    BackfillPolicy,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from polygon_pipeline.defs.fills.partitions import split_keys, window_partitions
from polygon_pipeline.defs.loaded_settings import DEFINITION_SETTINGS
from polygon_pipeline.defs.policies import (
    GROUP,
    RECONCILE_RETRY,
    RETRY_NUMBER_TAG,
    RPC_POOL,
    refusals_not_retried,
)
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.settings import Settings
from polygon_pipeline.sync.live_feed_report import LIVE_FILLS
from polygon_pipeline.sync.windows import RunTotals, WindowFigures, run_windows

# Polygon PoS makes a block every 2-3 s (https://www.alchemy.com/rpc/matic): the slow end,
# so that a window is never taken for late because blocks came slowly.
BLOCK_SECONDS_MAX = 3.0
RUN_ALLOWANCE_S = 600  # a window's run, queue included, normally ends well within this


def freshness_policy(settings: Settings) -> FreshnessPolicy:
    """Freshness of leader_fills as its materializations come: one per window, when the
    sensor runs it once the finalized head has passed it. So WARN when a window's run is
    late (a window's time, plus finality, a sensor interval and RUN_ALLOWANCE_S since the
    last), FAIL when a whole window has been missed. (Dagster counts materializations only:
    the mini-reconciliation's observations do not make the asset fresh.)"""
    window_s = settings.partition_window_blocks * BLOCK_SECONDS_MAX
    lag_s = (
        settings.confirmation_blocks * BLOCK_SECONDS_MAX
        + settings.window_sensor_interval_s
        + RUN_ALLOWANCE_S
    )
    return FreshnessPolicy.time_window(
        warn_window=timedelta(seconds=window_s + lag_s),
        fail_window=timedelta(seconds=2 * window_s + lag_s),
    )


@asset(
    partitions_def=window_partitions,
    deps=[LIVE_FILLS],
    pool=RPC_POOL,
    backfill_policy=BackfillPolicy.multi_run(
        max_partitions_per_run=DEFINITION_SETTINGS.windows_per_run
    ),
    retry_policy=RECONCILE_RETRY,
    freshness_policy=freshness_policy(DEFINITION_SETTINGS),
    group_name=GROUP,
    kinds={"sql"},
    description="Every leader fill of one block window on every exchange and venue, "
    "reconciled with eth_getLogs (per exchange, never per leader) through the shared RPC "
    "limiter. A backfill runs up to POLYGON_WINDOWS_PER_RUN windows per run, adjacent "
    "windows merged into one range.",
)
def leader_fills(context: AssetExecutionContext, pipeline: Pipeline) -> MaterializeResult:
    windows, bad_keys = split_keys(context.partition_keys)
    if not windows:  # nothing a retry could fix: a key typed by hand in the UI
        raise Failure(
            f"not block window key(s): {', '.join(map(repr, bad_keys))} (expected e.g. "
            "0080000000-0080009999); nothing reconciled",
            allow_retries=False,
        )
    for key in bad_keys:
        context.log.warning(f"skipped {key!r}: not a block window key (see no_coverage_gaps)")
    retry = context.retry_number > 0 or RETRY_NUMBER_TAG in context.run.tags
    with refusals_not_retried(), pipeline.sync_context() as ctx:
        run = run_windows(ctx, windows, skip_covered=retry)
    if run.late and not run.figures:
        raise _not_final(run.late, run.finalized)
    for report in run.reports:
        context.log.info(report.summary())
    if not run.reports:
        context.log.info("nothing to reconcile: an earlier attempt stored every window")
    run_figures = {"run_windows": len(run.figures), **reconcile_metadata(run.totals, "run_")}
    per_window = {key: window_metadata(f) for key, f in run.figures.items()}
    per_window |= {key: {"skipped": "not a block window key"} for key in bad_keys}
    if run.late:
        # The final windows are stored: they are reported as materialized, the late ones
        # fail (the run is not retried; the sensor launches them once they are final).
        for key, metadata in per_window.items():
            context.log_event(
                AssetMaterialization(
                    context.asset_key, partition=key, metadata={**metadata, **run_figures}
                )
            )
        raise _not_final(run.late, run.finalized)
    for key, metadata in per_window.items():  # the window's own figures first, then the run's
        context.add_asset_metadata({**metadata, **run_figures}, partition_key=key)
    return MaterializeResult()


def _not_final(late: list[str], head: int) -> Failure:
    return Failure(
        f"block window(s) {', '.join(late)} not finalized yet (finalized head {head}); the "
        "sensor launches them once they are",
        allow_retries=False,
    )


def window_metadata(figures: WindowFigures) -> dict:
    """One window's own figures (fills attributed to it by block number)."""
    return {
        "block_range": MetadataValue.text(figures.block_range),
        "fills_found": figures.fills_found,
        "fills_written": figures.fills_written,
        "fills_retracted": figures.fills_retracted,
        "reconciled_by": MetadataValue.text(
            "this run" if figures.reconciled else "an earlier attempt (coverage stored)"
        ),
    }


def reconcile_metadata(totals: RunTotals, prefix: str = "") -> dict:
    """What reconciliations did, as Dagster metadata (a window run, as the figures of the
    whole run, and the periodic mini-reconciliation report the same figures)."""
    figures = {
        "block_ranges": MetadataValue.text(totals.block_ranges),
        "fills_found": totals.fills_found,
        "fills_written": totals.fills_written,
        "fills_retracted": totals.fills_retracted,
        "eth_getLogs_calls": totals.getlogs_calls,
        "throttled_429s": totals.throttles,
        "chunks": totals.chunks,
        "range_sizes": MetadataValue.text(totals.range_sizes),
        "duration_s": MetadataValue.float(totals.seconds),
    }
    return {f"{prefix}{name}": value for name, value in figures.items()}
