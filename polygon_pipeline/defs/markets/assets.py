"""markets (Gamma lookups of every token id of a stored trade, sync/markets.py) and
leader_trades (the store's view of them, with questions and outcomes, as metadata).

Both depend on leader_fills by its key whatever its partitioning: they read every stored
fill, so a materialization of any part of it may bring them new tokens and trades."""

from dagster import AssetKey, MaterializeResult, MetadataValue

from polygon_pipeline.defs.policies import derived_asset, refusals_not_retried
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.context import GammaContext
from polygon_pipeline.sync.markets import sync_markets
from polygon_pipeline.sync.trades import leader_trades as readable_trades

PREVIEW_ROWS = 20


@derived_asset(
    deps=[AssetKey("leader_fills"), AssetKey("leader_history")],
    kinds={"api", "sql"},
    description="What each traded token is: condition, question, outcome, event, neg-risk, "
    "end date and state, from Polymarket's Gamma API in batches under its own shared budget "
    "(POLYGON_GAMMA_MAX_RPS). Looked up once; open markets refreshed; unknown ids tried "
    "again later, never holding up the fills.",
)
def markets(pipeline: Pipeline) -> MaterializeResult:
    with refusals_not_retried(), GammaContext.from_settings(pipeline.settings()) as ctx:
        report = sync_markets(ctx)
    return MaterializeResult(
        metadata={
            "tokens_looked_up": report.tokens,
            "batches": report.batches,
            "outcomes_saved": report.outcomes_saved,
            "unknown": report.unknown,
            "failed": report.failed,
            "gamma_requests": report.requests,
            "throttled_429s": report.throttles,
            "duration_s": MetadataValue.float(round(report.seconds, 3)),
        }
    )


@derived_asset(
    deps=[markets],
    kinds={"sql", "pandas"},
    description="One row per leader order fill (the leader is the maker): time, leader and "
    "label, question, outcome, side, price, size, notional, fee, venue, transaction and log "
    "index (the store's leader_trades view; `polygon-pipeline trades` prints it).",
)
def leader_trades(pipeline: Pipeline) -> MaterializeResult:
    from polygon_pipeline.sync.trade_output import preview

    with pipeline.store() as engine:
        records = readable_trades(engine)
    named = sum(1 for r in records if r["question"] is not None)
    return MaterializeResult(
        metadata={
            "trades": len(records),
            "with_market": named,
            "market_unknown": len(records) - named,
            "latest": MetadataValue.md(preview(records[-PREVIEW_ROWS:])),
        }
    )
