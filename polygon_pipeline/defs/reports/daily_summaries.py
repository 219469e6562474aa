"""Derived from the stored fills: the per leader, per day summaries (sync/daily_summaries.py),
and the sensor that keeps derived assets fresh on their automation conditions."""

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
)

from polygon_pipeline.defs.policies import derived_asset
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.daily_summaries import leader_daily_summaries as summarise
from polygon_pipeline.sync.daily_summaries import leader_market_notional


@derived_asset(
    deps=[AssetKey("leader_fills"), AssetKey("leader_history"), AssetKey("markets")],
    kinds={"pandas", "sql"},
    description="Per leader and UTC day: trades (fills where the leader is maker, each "
    "order once, V1 and V2 alike), buys, sells, tokens, collateral traded and the average "
    "price paid; and per market (question), the notional traded.",
)
def leader_daily_summaries(pipeline: Pipeline) -> MaterializeResult:
    with pipeline.store() as engine:
        table = summarise(engine)
        per_market = leader_market_notional(engine)
    return MaterializeResult(
        metadata={
            "leaders": len(table["leader"].unique()) if len(table) else 0,
            "rows": len(table),
            "preview": MetadataValue.md(
                table.head(20).to_markdown(index=False) if len(table) else "no trades yet"
            ),
            "markets_traded": int(per_market["question"].nunique()) if len(per_market) else 0,
            "per_market_notional": MetadataValue.md(
                per_market.head(20).to_markdown(index=False) if len(per_market) else "no trades"
            ),
        }
    )


derived_assets_automation = AutomationConditionSensorDefinition(
    "derived_assets_automation",
    target=AssetSelection.assets(
        leader_daily_summaries,
        AssetKey("source_comparison"),
        AssetKey("markets"),
        AssetKey("leader_trades"),
        AssetKey("window_exports"),
        AssetKey("leader_positions"),
        AssetKey("leader_pnl"),
    ),
    default_status=DefaultSensorStatus.RUNNING,
    description="Keeps the daily summaries, the source comparison, the markets, the "
    "readable trades and the leaders' positions and PnL fresh (their automation conditions: "
    "every 15 minutes), and exports each block window once its fills are stored.",
)
