"""The fills table's whole-store checks: what an operator wants to be sure of before trusting
it, run by `fill_checks_job` every ten minutes (each cell's own checks are evaluated by the
run that materializes it: assets.py). The figures come from sync/checks.py; in a run of
windows they are scoped to its windows, so they stay cheap there."""

from collections.abc import Iterator

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetRecordsFilter,
    MetadataValue,
    Output,
    asset_check,
)

# The materialization a cell's evaluation is about: Dagster's UI counts a partition's check
# as passed or failed only while its evaluation targets the partition's latest
# materialization (AssetCheckPartitionInfo.is_current). AssetCheckResult fills it in for a
# run of one partition only; for a run over a range it is given here, and Dagster exports no
# public name for it.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as Target,
)

from polygon_pipeline.defs.fills.assets import leader_fills
from polygon_pipeline.defs.fills.partitions import (
    cell_key,
    grid_partitions,
    registered_windows,
    split_cells,
)
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.checks import (
    CellVerdict,
    cell_checks,
    coverage_holes,
    live_feed_against_reconciliation,
)
from polygon_pipeline.sync.windows import Span, format_spans, merge


def _run_windows(
    context: AssetCheckExecutionContext,
) -> tuple[list[Span], list[str], list[str]] | None:
    """The merged blocks of the windows of the run this check runs in (a window run: one
    window or a range), its malformed keys and its exchanges: the check is then scoped to
    them, so it costs little and never fails on older windows a backfill has not reached yet,
    nor on exchanges the run did not ask for. None: the check runs on its own."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    found = split_cells(context.partition_keys)
    exchanges = sorted({x for names in found.exchanges.values() for x in names})
    return merge(found.windows.values()), found.bad, exchanges


def _materialized(context: AssetCheckExecutionContext) -> tuple[Span | None, list[str]]:
    """From the first block of the first window materialized on any exchange to the last of
    the last (windows are registered from the first venue's on, so the registered ones say
    nothing of what is wanted), and any malformed keys registered (a mistyped key added by
    hand is reported, never fatal)."""
    _windows, bad_keys = registered_windows(context.instance)
    done = split_cells(context.instance.get_materialized_partitions(leader_fills.key))
    spans = done.windows.values()
    first = min((lo for lo, _ in spans), default=None)
    return (None if first is None else (first, max(hi for _, hi in spans))), bad_keys


@asset_check(
    asset=leader_fills,
    description="Reconciled coverage has no hole: in a window run, across its windows; on its "
    "own, from the first window materialized to the last, or each exchange's cursor if "
    "further. Malformed window "
    "keys are reported (and fail it).",
)
def no_coverage_gaps(context: AssetCheckExecutionContext, pipeline: Pipeline) -> AssetCheckResult:
    run = _run_windows(context)
    done, bad_keys = _materialized(context) if run is None else (None, run[1])
    with pipeline.store() as engine:
        found = coverage_holes(
            engine,
            pipeline.settings().venues,
            run[0] if run else None,
            done,
            run[2] if run else None,
        )
    return AssetCheckResult(
        passed=found.blocks_missing == 0 and not bad_keys,
        severity=AssetCheckSeverity.WARN,  # holes a running backfill of older windows will close
        metadata={
            "scope": MetadataValue.text(
                f"this run's windows, blocks {format_spans(run[0], empty='none')}"
                if run
                else "first window materialized to the last or each cursor"
            ),
            "bad_window_keys": MetadataValue.json(bad_keys),
            "first_window_start": MetadataValue.int(done[0] if done else 0),
            "cursors": MetadataValue.json(found.cursors),
            "gaps": MetadataValue.json(
                {e: [list(g) for g in holes] for e, holes in found.gaps.items()}
            ),
            "blocks_missing": found.blocks_missing,
        },
    )


@asset_check(
    asset=leader_fills,
    description="For blocks reconciliation has closed (up to "
    "each exchange's cursor, since the live feed's first sighting; in a window run, within "
    "its windows): fills the live watcher missed, and fills it stored that reconciliation "
    "did not keep.",
)
def live_feed_matches_reconciliation(
    context: AssetCheckExecutionContext, pipeline: Pipeline
) -> AssetCheckResult:
    run = _run_windows(context)
    figures = {}
    if run is None or run[0]:  # a run of malformed keys only has nothing of its own
        within = (run[0][0][0], run[0][-1][1]) if run else None
        with pipeline.store() as engine:
            figures = live_feed_against_reconciliation(engine, within, run[2] if run else None)
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


def _cell_verdicts(
    context: AssetCheckExecutionContext, pipeline: Pipeline
) -> list[tuple[str, CellVerdict]]:
    """Each grid key of the run this check runs in (well-formed ones) with its cell's
    verdict, the cells read from the store together."""
    found = split_cells(context.op_execution_context.partition_keys)
    cells = [(x, w) for w, names in found.exchanges.items() for x in names]
    with pipeline.store() as engine:
        verdicts = cell_checks(
            engine, pipeline.settings().venues, [(x, found.windows[w]) for x, w in cells]
        )
    return list(zip([cell_key(x, w) for x, w in cells], verdicts, strict=True))


@asset_check(
    asset=leader_fills,
    partitions_def=grid_partitions,
    description="Per exchange and window, evaluated in the run that materializes it: every "
    "venue of the exchange trading in the window was queried over all of its blocks (no "
    "coverage hole).",
)
def window_coverage_complete(
    context: AssetCheckExecutionContext, pipeline: Pipeline
) -> Iterator[AssetCheckEvaluation | Output]:
    for key, verdict in _cell_verdicts(context, pipeline):
        yield _evaluation(
            context,
            key,
            not verdict.holes,
            {"holes": MetadataValue.json([list(h) for h in verdict.holes])},
        )
    yield Output(None)


@asset_check(
    asset=leader_fills,
    partitions_def=grid_partitions,
    description="Per exchange and window, evaluated in the run that materializes it: over "
    "the window's blocks both the live feed and reconciliation have seen, no fill the live "
    "watcher missed and none it stored that reconciliation did not keep.",
)
def window_live_feed_matches(
    context: AssetCheckExecutionContext, pipeline: Pipeline
) -> Iterator[AssetCheckEvaluation | Output]:
    for key, verdict in _cell_verdicts(context, pipeline):
        compared = format_spans([verdict.compared] if verdict.compared else [], empty="none yet")
        metadata = {"compared_blocks": compared, "misses": verdict.misses, "extras": verdict.extras}
        yield _evaluation(context, key, verdict.misses == verdict.extras == 0, metadata)
    yield Output(None)


def _evaluation(
    context: AssetCheckExecutionContext, key: str, passed: bool, metadata: dict
) -> AssetCheckEvaluation:
    """One cell's verdict (WARN: what a rerun of the cell repairs), about the cell's latest
    materialization."""
    latest = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=leader_fills.key, asset_partitions=[key]), limit=1
    ).records
    return AssetCheckEvaluation(
        asset_key=leader_fills.key,
        check_name=context.check_specs[0].name,
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        partition=key,
        metadata=metadata,
        target_materialization_data=(
            Target(
                storage_id=latest[0].storage_id,
                run_id=latest[0].run_id,
                timestamp=latest[0].timestamp,
            )
            if latest
            else None
        ),
    )


CELL_CHECKS = (window_coverage_complete, window_live_feed_matches)
