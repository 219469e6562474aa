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

from polygon_pipeline.defs.policies import (
    GROUP,
    HISTORY_TAGS,
    RECONCILE_RETRY,
    RPC_POOL,
    refusals_not_retried,
)
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.history import (
    PendingHistories,
    backfill_history,
    history_holes,
    missing_blocks,
)
from polygon_pipeline.sync.live_feed_report import LIVE_FILLS

leader_partitions = DynamicPartitionsDefinition(name="leaders")


@asset(
    partitions_def=leader_partitions,
    deps=[LIVE_FILLS],
    pool=RPC_POOL,
    retry_policy=RECONCILE_RETRY,
    group_name=GROUP,
    kinds={"sql"},
    description="A leader's history: its fills from its wanted first block up to the "
    "exchanges' cursors, queried for this leader only; a rerun fetches only what is missing.",
)
def leader_history(context: AssetExecutionContext, pipeline: Pipeline) -> MaterializeResult:
    leader = context.partition_key
    with refusals_not_retried(), pipeline.sync_context() as ctx:
        report = backfill_history(ctx, [leader])
    return MaterializeResult(
        metadata={
            "holes_before": MetadataValue.text(report.holes_of(leader)),
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
def leader_histories_complete(pipeline: Pipeline) -> AssetCheckResult:
    with pipeline.sync_context(check_chain=False) as ctx:
        missing = history_holes(ctx)
    table = "\n".join(
        f"| {leader} | {exchange} | {blocks} |"
        for leader, exchange, blocks in missing_blocks(missing)
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
def leaders_sensor(context: SensorEvaluationContext, pipeline: Pipeline) -> SensorResult:
    with pipeline.store() as engine:
        found = PendingHistories.read(engine, pipeline.settings().venues)
    known = set(context.instance.get_dynamic_partitions(leader_partitions.name))
    new = [leader for leader in found.leaders if leader not in known]
    return SensorResult(
        # One run per set of holes: a leader whose history is complete gets none, and holes
        # that appear later (blocks a reconciliation started before the leader was added
        # moved the cursor over) get a run of their own.
        run_requests=[
            RunRequest(partition_key=leader, run_key=f"history {leader} {what}")
            for leader, what in found.pending.items()
        ],
        dynamic_partitions_requests=[leader_partitions.build_add_request(new)] if new else [],
    )
