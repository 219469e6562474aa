"""Leader history in Dagster: one partition per leader, registered by a sensor when a leader
is added, whose run stores the leader's missing history (sync/history.py) and can be rerun
from the UI; a check lists the leaders whose wanted history still has holes."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    asset,
    asset_check,
    define_asset_job,
    sensor,
)

from polygon_pipeline.defs.assets import RECONCILE_RETRY, RPC_POOL
from polygon_pipeline.defs.jobs import HISTORY_TAGS
from polygon_pipeline.defs.live_feed import live_fills
from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.store.coverage_repo import format_spans
from polygon_pipeline.store.cursors_repo import history_end
from polygon_pipeline.store.leaders_repo import list_leaders, wanted_histories
from polygon_pipeline.sync.history import Holes, backfill_history, history_holes, holes_until

leader_partitions = DynamicPartitionsDefinition(name="leaders")


@asset(
    partitions_def=leader_partitions,
    deps=[live_fills],
    pool=RPC_POOL,
    retry_policy=RECONCILE_RETRY,
    group_name="polygon",
    kinds={"sql"},
    description="A leader's history: its fills from its wanted first block up to the "
    "exchanges' cursors, queried for this leader only; a rerun fetches only what is missing.",
)
def leader_history(context: AssetExecutionContext, pipeline: PipelineResource) -> MaterializeResult:
    leader = context.partition_key
    with pipeline.sync_context() as ctx:
        report = backfill_history(ctx, [leader])
    return MaterializeResult(
        metadata={
            "holes_before": MetadataValue.text(format_spans(report.holes.get(leader, []))),
            "blocks": report.blocks_done,
            "fills_found": report.fills_found,
            "fills_written": report.fills_written,
            "eth_getLogs_calls": report.getlogs_calls,
            "throttled_429s": report.throttles,
            "duration_s": MetadataValue.float(round(report.seconds, 3)),
        }
    )


@asset_check(
    asset=leader_history,
    description="Every leader's wanted history is stored: lists the leaders whose history "
    "still has holes (expected while a new leader's history is being fetched).",
)
def leader_histories_complete(pipeline: PipelineResource) -> AssetCheckResult:
    with pipeline.sync_context(check_chain=False) as ctx:
        missing = history_holes(ctx)
    table = "\n".join(
        f"| {leader} | {exchange} | {format_spans(spans)} |"
        for leader, per in sorted(missing.items())
        for exchange, spans in sorted(per.items())
    )
    return AssetCheckResult(
        passed=not missing,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "leaders_with_holes": len(missing),
            "holes": MetadataValue.md(
                "| leader | exchange | missing blocks |\n|---|---|---|\n" + table
                if missing
                else "none"
            ),
        },
    )


leader_history_job = define_asset_job(
    "leader_history_job",
    selection=[leader_history],
    tags=HISTORY_TAGS,
)


@sensor(
    job=leader_history_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Registers a partition for each leader added, and requests a history run for "
    "each leader whose wanted history has holes (no RPC call).",
)
def leaders_sensor(context: SensorEvaluationContext, pipeline: PipelineResource) -> SensorResult:
    with pipeline.store() as engine, engine.connect() as conn:
        leaders = list_leaders(conn)
        end = history_end(conn)
        wanted = wanted_histories(conn, leaders)
        missing = holes_until(conn, end, wanted) if end is not None else None
    known = set(context.instance.get_dynamic_partitions(leader_partitions.name))
    new = [leader for leader in leaders if leader not in known]
    return SensorResult(
        run_requests=[
            RunRequest(partition_key=leader, run_key=_history_run_key(leader, wanted, missing))
            for leader in leaders
            if leader in wanted and (missing is None or leader in missing)
        ],
        dynamic_partitions_requests=[leader_partitions.build_add_request(new)] if new else [],
    )


def _history_run_key(leader: str, wanted: dict[str, int], missing: Holes | None) -> str:
    """One run per set of holes: a leader whose history is complete gets none, and holes
    that appear later (blocks a reconciliation started before the leader was added moved
    the cursor over) get a run of their own."""
    if missing is None:  # nothing reconciled yet: the run finds its end itself
        return f"history {leader} from {wanted[leader]}"
    spans = sorted({span for spans in missing[leader].values() for span in spans})
    return f"history {leader} missing {format_spans(spans)}"
