"""Asset checks: what an operator wants to be sure of before trusting the fills table."""

from datetime import UTC, datetime

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)
from sqlalchemy import func, select

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.assets import leader_fills
from polygon_pipeline.defs.live_feed import LIVE_FILLS
from polygon_pipeline.defs.partitions import parse_window, window_partitions
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.store.coverage import gaps
from polygon_pipeline.store.cursors import get_cursor
from polygon_pipeline.store.heartbeats import last_beat
from polygon_pipeline.store.live_comparison import compare_live, first_sighting_block
from polygon_pipeline.store.schema import fills
from polygon_pipeline.sync.watcher import ROLE as WATCHER_ROLE

HEARTBEAT_MAX_AGE_S = 60


@asset_check(
    asset=leader_fills,
    description="Each log is stored once: no two rows share (chain_id, tx_hash, log_index).",
)
def no_duplicate_fills(pipeline: PipelineResource) -> AssetCheckResult:
    identity = (fills.c.chain_id, fills.c.tx_hash, fills.c.log_index)
    with pipeline.store() as engine, engine.connect() as conn:
        duplicated = conn.execute(
            select(func.count()).select_from(
                select(*identity).group_by(*identity).having(func.count() > 1).subquery()
            )
        ).scalar_one()
        total = conn.execute(select(func.count()).select_from(fills)).scalar_one()
    return AssetCheckResult(
        passed=duplicated == 0, metadata={"duplicated_identities": duplicated, "fills": total}
    )


@asset_check(
    asset=leader_fills,
    description="Reconciled coverage has no hole between the "
    "first registered block window and each exchange's cursor.",
)
def no_coverage_gaps(
    context: AssetCheckExecutionContext, pipeline: PipelineResource
) -> AssetCheckResult:
    windows = context.instance.get_dynamic_partitions(window_partitions.name)
    if not windows:
        return AssetCheckResult(passed=True, metadata={"note": "no block window registered yet"})
    first = min(parse_window(key)[0] for key in windows)
    holes: dict[str, list[tuple[int, int]]] = {}
    cursors = {}
    with pipeline.store() as engine, engine.connect() as conn:
        for exchange in EXCHANGES:
            cursors[exchange] = get_cursor(conn, exchange)
            if cursors[exchange] is not None and cursors[exchange] >= first:
                holes[exchange] = gaps(conn, exchange, first, cursors[exchange])
    missing_blocks = sum(hi - lo + 1 for found in holes.values() for lo, hi in found)
    return AssetCheckResult(
        passed=missing_blocks == 0,
        metadata={
            "first_window_start": first,
            "cursors": MetadataValue.json(cursors),
            "gaps": MetadataValue.json({e: [list(g) for g in found] for e, found in holes.items()}),
            "blocks_missing": missing_blocks,
        },
    )


@asset_check(
    asset=LIVE_FILLS,
    description="The live watcher's heartbeat is recent and it "
    "says it is healthy (connected, hearing new heads).",
)
def watcher_heartbeat_recent(pipeline: PipelineResource) -> AssetCheckResult:
    with pipeline.store() as engine, engine.connect() as conn:
        found = last_beat(conn, WATCHER_ROLE)
    if found is None:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={"note": "no watcher has ever run on this database"},
        )
    updated_at, status = found
    age = (datetime.now(tz=UTC) - updated_at).total_seconds()
    return AssetCheckResult(
        passed=age <= HEARTBEAT_MAX_AGE_S and bool(status.get("healthy")),
        severity=AssetCheckSeverity.WARN,
        metadata={"heartbeat_age_s": round(age, 1), "status": MetadataValue.json(status)},
    )


@asset_check(
    asset=leader_fills,
    description="For blocks reconciliation has closed (up to "
    "each exchange's cursor, since the live feed's first sighting): fills the live "
    "watcher missed, and fills it stored that reconciliation did not keep.",
)
def live_feed_matches_reconciliation(pipeline: PipelineResource) -> AssetCheckResult:
    figures = {}
    with pipeline.store() as engine, engine.connect() as conn:
        for exchange in EXCHANGES:
            start, cursor = first_sighting_block(conn, exchange), get_cursor(conn, exchange)
            if start is None or cursor is None or cursor < start:
                continue
            result = compare_live(conn, exchange, start, cursor)
            figures[exchange] = {"from_block": start, "to_block": cursor, **vars(result)}
    if not figures:
        return AssetCheckResult(
            passed=True,
            metadata={"note": "nothing to compare yet: no live sightings below a cursor"},
        )
    misses = sum(f["misses"] for f in figures.values())
    extras = sum(f["extras"] for f in figures.values())
    return AssetCheckResult(
        passed=misses == 0 and extras == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"misses": misses, "extras": extras, "by_exchange": MetadataValue.json(figures)},
    )
