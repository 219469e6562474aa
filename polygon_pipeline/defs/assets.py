"""The reconciled fills, per exchange and block window, and what is derived from them."""

from datetime import timedelta

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
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
from sqlalchemy import select

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.defs.live_feed import live_fills
from polygon_pipeline.defs.partitions import parse_window, window_key, window_partitions
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.coverage import merge
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.schema import fills
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import ReconcileReport, reconcile

WINDOWS_PER_RUN = load_settings().windows_per_run
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


@asset(
    partitions_def=window_partitions,
    deps=[live_fills],
    pool=RPC_POOL,
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=WINDOWS_PER_RUN),
    retry_policy=RECONCILE_RETRY,
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=timedelta(hours=2), warn_window=timedelta(minutes=30)
    ),
    group_name="polygon",
    kinds={"sql"},
    description="Every leader fill of one block window on every exchange and venue, "
    "reconciled with eth_getLogs (per exchange, never per leader) through the shared RPC "
    "limiter. A backfill runs up to POLYGON_WINDOWS_PER_RUN windows per run, adjacent "
    "windows merged into one range.",
)
def leader_fills(context: AssetExecutionContext, pipeline: PipelineResource) -> MaterializeResult:
    windows = sorted(parse_window(key) for key in context.partition_keys)
    spans = merge(windows)
    with pipeline.sync_context() as ctx:
        head = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
        if spans[-1][1] > head:
            raise Failure(
                f"block window {window_key(*_last(windows))} is not finalized yet (finalized "
                f"head {head}); the sensor launches it once it is",
                allow_retries=False,
            )
        reports = [reconcile(ctx, list(EXCHANGES), lo, hi) for lo, hi in spans]
    for report in reports:
        context.log.info(report.summary())
    return MaterializeResult(metadata=reconcile_metadata(reports, windows=len(windows)))


def _last(windows: list[tuple[int, int]]) -> tuple[int, int]:
    lo, hi = windows[-1]
    return lo, hi - lo + 1


def reconcile_metadata(reports: list[ReconcileReport], **extra: object) -> dict:
    """What a reconciliation did, as Dagster metadata (the window runs and the periodic
    mini-reconciliation report the same figures)."""
    sizes = [size for report in reports for size in report.range_sizes]
    return {
        **extra,
        "block_ranges": MetadataValue.text(
            ", ".join(f"{r.from_block}..{r.to_block}" for r in reports)
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
        leaders = set(list_leaders(conn))
        rows = [
            dict(r._mapping) for r in conn.execute(select(fills).where(fills.c.maker.in_(leaders)))
        ]
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


def daily_summaries(rows: list[dict]) -> pd.DataFrame:
    """One row per leader and UTC day, from stored fill rows whose maker is the leader."""
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
