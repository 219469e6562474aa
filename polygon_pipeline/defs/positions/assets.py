"""leader_positions (sizes from the ledgers' transfers, cost and PnL by the pnl-subgraph's
rules, resolutions looked up by condition) and leader_pnl (realized PnL per leader and UTC
day). Both read every stored transfer and fill, so they depend on leader_fills and
leader_history by key whatever their partitioning, and on markets (the token -> condition
map the resolutions need)."""

from decimal import Decimal

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from polygon_pipeline.defs.policies import GROUP, derived_asset, refusals_not_retried
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.context import ApiContext, ClobContext
from polygon_pipeline.sync.position_compare import compare_positions
from polygon_pipeline.sync.position_output import daily_pnl_preview, positions_preview
from polygon_pipeline.sync.positions import PositionFigures, all_positions, daily_pnl
from polygon_pipeline.sync.resolutions import fetch_resolutions

USD = 1_000_000  # the store's x1e6 amounts


@derived_asset(
    deps=[AssetKey("leader_fills"), AssetKey("leader_history"), AssetKey("markets")],
    kinds={"sql", "pandas"},
    description="Every leader's positions: exact size from the ConditionalTokens and "
    "PositionManager transfers, average cost and realized PnL by the pnl-subgraph's rules "
    "(splits, merges, redemptions at the ConditionResolution payout), unrealized PnL at the "
    "payout once resolved, else at the CLOB midpoint (its own shared budget, "
    "POLYGON_CLOB_MAX_RPS) (docs/positions.md; `polygon-pipeline positions`).",
)
def leader_positions(pipeline: Pipeline) -> MaterializeResult:
    settings = pipeline.settings()
    with refusals_not_retried(), pipeline.sync_context() as ctx:
        found = fetch_resolutions(ctx)
    with refusals_not_retried(), ClobContext.from_settings(settings) as clob:
        positions = all_positions(clob.engine, prices=clob)
    figures = PositionFigures.of(positions)
    return MaterializeResult(
        metadata={
            "leaders": figures.leaders,
            "positions": figures.positions,
            "open_positions": figures.open_positions,
            "negative_balances": len(figures.negative),
            "realized_pnl_usd": MetadataValue.float(figures.realized_pnl / USD),
            "unrealized_pnl_usd": MetadataValue.float(figures.unrealized_pnl / USD),
            "conditions_searched": found.conditions,
            "conditions_resolved": found.resolved,
            "resolution_getlogs_calls": found.getlogs_calls,
            "largest": MetadataValue.md(positions_preview(positions)),
        }
    )


@asset_check(
    asset=leader_positions,
    description="No leader holds less than nothing: a negative balance means transfers "
    "before the leader's history start (or missed ones). Warns, naming the positions.",
)
def no_negative_balances(pipeline: Pipeline) -> AssetCheckResult:
    with pipeline.store() as engine:
        negative = PositionFigures.of(all_positions(engine)).negative
    return AssetCheckResult(
        passed=not negative,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "negative": len(negative),
            "first": MetadataValue.md(
                "\n".join(f"- {p.leader} {p.token_id}: {p.size}" for p in negative[:10]) or "none"
            ),
        },
    )


@derived_asset(
    deps=[leader_positions],
    kinds={"sql", "pandas"},
    description="Realized PnL per leader and UTC day (the day of the block that realized "
    "it), from the same computation as leader_positions.",
)
def leader_pnl(pipeline: Pipeline) -> MaterializeResult:
    with pipeline.store() as engine:
        days = daily_pnl(all_positions(engine))
    return MaterializeResult(
        metadata={
            "leader_days": len(days),
            "realized_pnl_usd": MetadataValue.float(sum(d["realized_pnl"] for d in days) / USD),
            "last_days": MetadataValue.md(daily_pnl_preview(days)),
        }
    )


@asset(
    deps=[leader_positions],
    group_name=GROUP,
    kinds={"api", "sql"},
    check_specs=[AssetCheckSpec("positions_match_data_api", asset="position_comparison")],
    description="Every leader's positions from the chain against Polymarket's Data API "
    "/positions (its own shared budget): sizes exact from its sizeThreshold (1 token) up, "
    "avgPrice within POLYGON_POSITIONS_AVG_PRICE_TOLERANCE; every difference named. Run it "
    "once the chain is reconciled to the head the API reports on.",
)
def position_comparison(pipeline: Pipeline) -> MaterializeResult:
    settings = pipeline.settings()
    tolerance = Decimal(str(settings.positions_avg_price_tolerance))
    with refusals_not_retried(), ApiContext.from_settings(settings) as ctx:
        report = compare_positions(ctx, tolerance)
    named = "\n".join(f"- {d.line()}" for d in report.differences[:50]) or "none"
    return MaterializeResult(
        metadata={
            "leaders": report.leaders,
            "positions_compared": report.compared,
            "differences": len(report.differences),
            "data_api_requests": report.requests,
            "listed": MetadataValue.md(named),
        },
        check_results=[
            AssetCheckResult(
                check_name="positions_match_data_api",
                passed=not report.differences,
                metadata={"differences": MetadataValue.md(named)},
            )
        ],
    )
