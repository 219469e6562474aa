"""Asset checks: what an operator wants to be sure of before trusting the fills table."""

from datetime import UTC, datetime

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.defs.assets import leader_fills
from polygon_pipeline.defs.live_feed import LIVE_FILLS
from polygon_pipeline.defs.partitions import registered_windows, split_keys
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.store.coverage_repo import Span, format_spans, gaps, merge
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.heartbeats_repo import last_beat
from polygon_pipeline.store.live_sightings_repo import compare_live, first_sighting_block
from polygon_pipeline.sync.watcher_status import WATCHER_ROLE

HEARTBEAT_MAX_AGE_S = 60


def _run_windows(context: AssetCheckExecutionContext) -> tuple[list[Span], list[str]] | None:
    """The merged blocks of the windows of the run this check runs in (a window run: one
    window or a range), and the run's malformed keys: the check is then scoped to them, so it
    costs little and never fails on older windows a backfill has not reached yet. None: the
    check runs on its own."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    windows, bad_keys = split_keys(context.partition_keys)
    return merge(windows.values()), bad_keys


def _registered_start(context: AssetCheckExecutionContext) -> tuple[int | None, list[str]]:
    """The first registered window's first block, and any malformed keys (a mistyped key
    added by hand is reported, never fatal)."""
    windows, bad_keys = registered_windows(context.instance)
    return min((lo for lo, _ in windows.values()), default=None), bad_keys


@asset_check(
    asset=leader_fills,
    description="Reconciled coverage has no hole: in a window run, across its windows; on its "
    "own, between the first registered window and each exchange's cursor. Malformed window "
    "keys are reported (and fail it).",
)
def no_coverage_gaps(
    context: AssetCheckExecutionContext, pipeline: PipelineResource
) -> AssetCheckResult:
    run = _run_windows(context)
    first, bad_keys = _registered_start(context) if run is None else (None, run[1])
    holes: dict[str, list[Span]] = {}
    cursors = {}
    with pipeline.store() as engine, engine.connect() as conn:
        for exchange in EXCHANGES:
            cursors[exchange] = get_cursor(conn, exchange)
            spans = run[0] if run else [(first, cursors[exchange])]
            holes[exchange] = [
                hole
                for lo, hi in spans
                if lo is not None and hi is not None and hi >= lo
                for hole in gaps(conn, exchange, lo, hi)
            ]
    missing_blocks = sum(hi - lo + 1 for found in holes.values() for lo, hi in found)
    return AssetCheckResult(
        passed=missing_blocks == 0 and not bad_keys,
        severity=AssetCheckSeverity.WARN,  # holes a running backfill of older windows will close
        metadata={
            "scope": MetadataValue.text(
                f"this run's windows, blocks {format_spans(run[0], empty='none')}"
                if run
                else "first registered window to each cursor"
            ),
            "bad_window_keys": MetadataValue.json(bad_keys),
            "first_window_start": MetadataValue.int(first or 0),
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
    passed, metadata = watcher_health(pipeline)
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.WARN, metadata=metadata)


def watcher_health(pipeline: PipelineResource) -> tuple[bool, dict]:
    """Whether the watcher's last heartbeat is recent and healthy, with the figures (shared
    by the check and the sensor that reports it without a run)."""
    with pipeline.store() as engine, engine.connect() as conn:
        found = last_beat(conn, WATCHER_ROLE)
    if found is None:
        return False, {"note": "no watcher has ever run on this database"}
    updated_at, status = found
    age = (datetime.now(tz=UTC) - updated_at).total_seconds()
    return age <= HEARTBEAT_MAX_AGE_S and bool(status.get("healthy")), {
        "heartbeat_age_s": round(age, 1),
        "status": MetadataValue.json(status),
    }


@asset_check(
    asset=leader_fills,
    description="For blocks reconciliation has closed (up to "
    "each exchange's cursor, since the live feed's first sighting; in a window run, within "
    "its windows): fills the live watcher missed, and fills it stored that reconciliation "
    "did not keep.",
)
def live_feed_matches_reconciliation(
    context: AssetCheckExecutionContext, pipeline: PipelineResource
) -> AssetCheckResult:
    run = _run_windows(context)
    scope = (run[0][0][0], run[0][-1][1]) if run and run[0] else None
    figures = {}
    with pipeline.store() as engine, engine.connect() as conn:
        first = first_sighting_block(conn)
        for exchange in EXCHANGES:
            start, cursor = first, get_cursor(conn, exchange)
            if start is None or cursor is None or cursor < start:
                continue
            if run:
                if not scope:
                    continue  # a run of malformed keys only: nothing of its own to compare
                start, cursor = max(start, scope[0]), min(cursor, scope[1])
                if cursor < start:
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
