"""The reconciled fills, per exchange and block window, and what is derived from them."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from sqlalchemy import select

from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.defs.live_feed import live_fills
from polygon_pipeline.defs.partitions import fills_partitions, parse_window
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.schema import fills
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import reconcile

RPC_POOL = "polygon_rpc"


@asset(
    partitions_def=fills_partitions,
    deps=[live_fills],
    pool=RPC_POOL,
    group_name="polygon",
    kinds={"sql"},
    description="Every leader fill of one exchange in one block window, reconciled with "
    "eth_getLogs (per exchange, never per leader) through the shared RPC limiter.",
)
def leader_fills(context: AssetExecutionContext, pipeline: PipelineResource) -> MaterializeResult:
    keys = context.partition_key.keys_by_dimension
    exchange, (lo, hi) = keys["exchange"], parse_window(keys["window"])
    ctx = pipeline.sync_context()
    try:
        head = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
        if hi > head:
            raise Failure(
                f"block window {keys['window']} is not finalized yet (finalized head "
                f"{head}); the sensor launches it once it is"
            )
        report = reconcile(ctx, [exchange], lo, hi)
    finally:
        ctx.close()
    sizes = report.range_sizes
    return MaterializeResult(
        metadata={
            "fills_found": report.fills_found,
            "fills_written": report.fills_written,
            "fills_retracted": report.retracted,
            "eth_getLogs_calls": report.getlogs_calls,
            "throttled_429s": report.throttles,
            "chunks": report.chunks,
            "range_sizes": MetadataValue.text(
                f"min {min(sizes)}, max {max(sizes)}, mean {sum(sizes) / len(sizes):.0f}"
                if sizes
                else "-"
            ),
            "from_block": lo,
            "to_block": hi,
            "duration_s": MetadataValue.float(round(report.seconds, 3)),
        }
    )


@asset(
    deps=[leader_fills, AssetKey("leader_history")],
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
