"""leader_fills: every leader fill of one exchange in one block window, reconciled by a run
over cells of the exchange x window grid (sync/windows.py), with each cell's figures, the
run's as metadata (its checks: checks.py)."""

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

from polygon_pipeline.defs.fills.backfills import backfill_cells
from polygon_pipeline.defs.fills.partitions import cell_key, grid_partitions, split_cells
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
    partitions_def=grid_partitions,
    deps=[LIVE_FILLS],
    pool=RPC_POOL,
    backfill_policy=BackfillPolicy.multi_run(
        max_partitions_per_run=DEFINITION_SETTINGS.windows_per_run
    ),
    retry_policy=RECONCILE_RETRY,
    freshness_policy=freshness_policy(DEFINITION_SETTINGS),
    group_name=GROUP,
    kinds={"sql"},
    description="Every leader fill of one exchange family in one block window, reconciled "
    "with eth_getLogs through the shared RPC limiter: the exchanges of a window in one "
    "filter (every venue of each), never a call per leader or per exchange. A backfill runs "
    "up to POLYGON_WINDOWS_PER_RUN cells per run, adjacent windows merged into one range.",
)
def leader_fills(context: AssetExecutionContext, pipeline: Pipeline) -> MaterializeResult:
    own = split_cells(context.partition_keys)
    if not own.windows:  # nothing a retry could fix: a key typed by hand in the UI
        raise Failure(
            f"not block window key(s): {', '.join(map(repr, own.bad))} (expected e.g. "
            "ctf|0080000000-0080009999); nothing reconciled",
            allow_retries=False,
        )
    for key in own.bad:
        context.log.warning(f"skipped {key!r}: not a block window key (see no_coverage_gaps)")
    run_keys = set(map(str, context.partition_keys))
    own_keys = {cell_key(x, w) for x, w in own.cells}
    todo_keys, done_keys = backfill_cells(context, set(own.windows))
    todo = split_cells((own_keys - done_keys) | todo_keys)
    retry = context.retry_number > 0 or RETRY_NUMBER_TAG in context.run.tags
    with refusals_not_retried(), pipeline.sync_context() as ctx:
        run = run_windows(ctx, todo.windows, todo.exchanges, skip_covered=retry)
    if run.late and not run.figures:
        raise _not_final(run.late, run.finalized)
    for report in run.reports:
        context.log.info(report.summary())
    if not run.reports:
        context.log.info("nothing to reconcile: an earlier attempt or run stored every cell")
    run_figures = {"run_cells": len(run.figures), **reconcile_metadata(run.totals, "run_")}
    reported = {cell_key(*cell): window_metadata(f) for cell, f in run.figures.items()}
    reported |= {
        key: {"reconciled_by": MetadataValue.text("an earlier run of this backfill")}
        for key in own_keys & done_keys
    }
    reported |= {key: {"skipped": "not a block window key"} for key in own.bad}
    for key, metadata in reported.items():  # the cell's own figures first, then the run's
        if run.late or key not in run_keys:  # a backfill's other cells, or a failing run
            context.log_event(
                AssetMaterialization(
                    context.asset_key, partition=key, metadata={**metadata, **run_figures}
                )
            )
        else:
            context.add_asset_metadata({**metadata, **run_figures}, partition_key=key)
    if run.late:
        # The final windows are stored: they are reported as materialized, the late ones
        # fail (the run is not retried; the sensor launches them once they are final).
        raise _not_final(run.late, run.finalized)
    return MaterializeResult()


def _not_final(late: list[str], head: int) -> Failure:
    return Failure(
        f"block window(s) {', '.join(late)} not finalized yet (finalized head {head}); the "
        "sensor launches them once they are",
        allow_retries=False,
    )


def window_metadata(figures: WindowFigures) -> dict:
    """One cell's own figures (fills attributed to it by exchange and block number)."""
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
