"""API mode in Dagster: the Data API trades as an asset, and the comparator downstream of
both sources (it reads only what they stored)."""

from dagster import AssetKey, MaterializeResult, MetadataValue, asset

from polygon_pipeline.defs.policies import GROUP, derived_asset, refusals_not_retried
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.api_poller import poll_once
from polygon_pipeline.sync.context import ApiContext
from polygon_pipeline.sync.live_feed_report import LIVE_FILLS


@asset(
    group_name=GROUP,
    kinds={"api", "sql"},
    description="Leader trades from the Polymarket Data API (`/trades?user=`), polled "
    "incrementally per leader. Never calls the chain's RPC.",
)
def api_trades(pipeline: Pipeline) -> MaterializeResult:
    with refusals_not_retried(), ApiContext.from_settings(pipeline.settings()) as api:
        report = poll_once(api)
    return MaterializeResult(
        metadata={
            "leaders": report.leaders,
            "new_trades": report.new_trades,
            "pages": report.pages,
            "throttled_429s": report.throttles,
            "duration_s": round(report.seconds, 3),
        }
    )


@derived_asset(
    deps=[LIVE_FILLS, AssetKey("leader_fills"), api_trades],
    kinds={"pandas", "matplotlib"},
    description="Per leader trade: which source saw it first and whether either missed "
    "it. Reads what the sources stored; makes no RPC and no API calls.",
)
def source_comparison(pipeline: Pipeline) -> MaterializeResult:
    # Imported here (pandas, matplotlib): not on the start-up path of every run's process.
    from polygon_pipeline.sync.compare import compare_sources

    with pipeline.store() as engine:
        result = compare_sources(engine)
    pct = result.percentiles()
    return MaterializeResult(
        metadata={
            "matched": result.matched,
            "only_on_chain": result.only_chain,
            "only_in_api": result.only_api,
            "chain_latency_p50_s": MetadataValue.float(pct["chain"][50] or 0.0),
            "api_latency_p50_s": MetadataValue.float(pct["api"][50] or 0.0),
            "comparison": MetadataValue.md(result.markdown_with_plot()),
        }
    )
