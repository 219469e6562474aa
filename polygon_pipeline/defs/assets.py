"""The reconciled fills, per exchange and block window, and what is derived from them."""

from datetime import timedelta
from typing import TYPE_CHECKING

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AutomationCondition,
    BackfillPolicy,
    Backoff,
    Failure,
    FreshnessPolicy,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.defs.live_feed import live_fills
from polygon_pipeline.defs.partitions import split_keys, window_partitions
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.defs.window_runs import WindowFigures, reconcile_windows
from polygon_pipeline.settings import Settings, load_settings
from polygon_pipeline.store.coverage_repo import format_spans
from polygon_pipeline.store.fills_repo import leader_maker_fills
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import ReconcileReport

if TYPE_CHECKING:
    import pandas as pd

# Read once, when the definitions are loaded: what shapes them (freshness, backfill policy).
DEFINITION_SETTINGS = load_settings()
# Derived assets are refreshed on a clock rather than after every window: a backfill of a
# thousand windows would otherwise recompute them a thousand times.
REFRESH = AutomationCondition.cron_tick_passed("*/15 * * * *") & ~AutomationCondition.in_progress()

RPC_POOL = "polygon_rpc"
# Transient trouble (a provider outage longer than the client's own retries, a database that
# went away) is retried by Dagster after a jittered, growing delay; a window that is not
# final yet is not (Failure(allow_retries=False)): the sensor launches it once it is.
RECONCILE_RETRY = RetryPolicy(
    max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
RETRY_NUMBER_TAG = "dagster/retry_number"  # set on a run that Dagster's run retries launched

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
    deps=[live_fills],
    pool=RPC_POOL,
    backfill_policy=BackfillPolicy.multi_run(
        max_partitions_per_run=DEFINITION_SETTINGS.windows_per_run
    ),
    retry_policy=RECONCILE_RETRY,
    freshness_policy=freshness_policy(DEFINITION_SETTINGS),
    group_name="polygon",
    kinds={"sql"},
    description="Every leader fill of one block window on every exchange and venue, "
    "reconciled with eth_getLogs (per exchange, never per leader) through the shared RPC "
    "limiter. A backfill runs up to POLYGON_WINDOWS_PER_RUN windows per run, adjacent "
    "windows merged into one range.",
)
def leader_fills(context: AssetExecutionContext, pipeline: PipelineResource) -> MaterializeResult:
    windows, bad_keys = split_keys(context.partition_keys)
    for key in bad_keys:
        context.log.warning(f"skipped {key!r}: not a block window key (see no_coverage_gaps)")
    with pipeline.sync_context() as ctx:
        head = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
        late = sorted(key for key, (_, hi) in windows.items() if hi > head)
        final = {key: span for key, span in windows.items() if key not in late}
        if late and not final:
            raise _not_final(late, head)
        retry = context.retry_number > 0 or RETRY_NUMBER_TAG in context.run.tags
        figures, reports = reconcile_windows(ctx, final, skip_covered=retry)
    for report in reports:
        context.log.info(report.summary())
    run_figures = {"run_windows": len(final), **reconcile_metadata(reports, prefix="run_")}
    per_window = {key: window_metadata(f) for key, f in figures.items()}
    per_window |= {key: {"skipped": "not a block window key"} for key in bad_keys}
    if late:
        # The final windows are stored: they are reported as materialized, the late ones
        # fail (the run is not retried; the sensor launches them once they are final).
        for key, metadata in per_window.items():
            context.log_event(
                AssetMaterialization(
                    context.asset_key, partition=key, metadata={**metadata, **run_figures}
                )
            )
        raise _not_final(late, head)
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
    lo, hi = figures.blocks
    return {
        "block_range": MetadataValue.text(f"{lo}..{hi}"),
        "fills_found": figures.fills_found,
        "fills_written": figures.fills_written,
        "fills_retracted": figures.fills_retracted,
        "reconciled_by": MetadataValue.text(
            "this run" if figures.reconciled else "an earlier attempt (coverage stored)"
        ),
    }


def reconcile_metadata(reports: list[ReconcileReport], prefix: str = "") -> dict:
    """What a reconciliation did, as Dagster metadata (the window runs, as the figures of the
    whole run, and the periodic mini-reconciliation report the same figures)."""
    sizes = [size for report in reports for size in report.range_sizes]
    figures = {
        "block_ranges": MetadataValue.text(
            format_spans((r.from_block, r.to_block) for r in reports)
        ),
        "fills_found": sum(r.fills_found for r in reports),
        "fills_written": sum(r.fills_written for r in reports),
        "fills_retracted": sum(r.retracted for r in reports),
        "eth_getLogs_calls": sum(r.getlogs_calls for r in reports),
        "throttled_429s": sum(r.throttles for r in reports),
        "chunks": sum(r.chunks for r in reports),
        "range_sizes": MetadataValue.text(
            f"min {min(sizes)}, max {max(sizes)}, mean {sum(sizes) / len(sizes):.0f}"
            if sizes
            else "-"
        ),
        "duration_s": MetadataValue.float(round(sum(r.seconds for r in reports), 3)),
    }
    return {f"{prefix}{name}": value for name, value in figures.items()}


@asset(
    deps=[leader_fills, AssetKey("leader_history")],
    automation_condition=REFRESH,
    group_name="polygon",
    kinds={"pandas", "sql"},
    description="Per leader and UTC day: trades (fills where the leader is maker, each "
    "order once, V1 and V2 alike), buys, sells, tokens, collateral traded and the average "
    "price paid.",
)
def leader_daily_summaries(pipeline: PipelineResource) -> MaterializeResult:
    with pipeline.store() as engine, engine.connect() as conn:
        rows = leader_maker_fills(conn)
    table = daily_summaries(rows)
    return MaterializeResult(
        metadata={
            "leaders": len(table["leader"].unique()) if len(table) else 0,
            "rows": len(table),
            "preview": MetadataValue.md(
                table.head(20).to_markdown(index=False) if len(table) else "no trades yet"
            ),
        }
    )


def daily_summaries(rows: list[dict]) -> "pd.DataFrame":
    """One row per leader and UTC day, from stored fill rows whose maker is the leader."""
    # Imported here: every run's process loads these definitions, and pandas alone adds
    # about a second to the start of the many runs that never use it.
    import pandas as pd

    records = []
    for row in rows:
        view = trade_of(row)
        if view is None or row["block_timestamp"] is None:
            continue
        records.append(
            {
                "leader": row["maker"],
                "day": row["block_timestamp"].date(),
                "side": view.side,
                "size": float(view.size),
                "usdc": float(view.collateral),
            }
        )
    columns = ["leader", "day", "trades", "buys", "sells", "tokens", "usdc", "avg_price"]
    if not records:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(records)
    frame["buy"] = (frame["side"] == "BUY").astype(int)
    summary = frame.groupby(["leader", "day"], as_index=False).agg(
        trades=("side", "count"), buys=("buy", "sum"), tokens=("size", "sum"), usdc=("usdc", "sum")
    )
    summary["sells"] = summary["trades"] - summary["buys"]
    summary["avg_price"] = (summary["usdc"] / summary["tokens"]).round(6)
    return summary[columns].sort_values(["day", "leader"]).reset_index(drop=True)
