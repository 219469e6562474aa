"""The live watcher's health in Dagster: a check on live_fills, and a sensor that reports it
every minute without a run."""

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    sensor,
)

from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.checks import watcher_health
from polygon_pipeline.sync.live_feed_report import LIVE_FILLS

HEARTBEAT_MAX_AGE_S = 60


@asset_check(
    asset=LIVE_FILLS,
    description="The live watcher's heartbeat is recent and it "
    "says it is healthy (connected, hearing new heads).",
)
def watcher_heartbeat_recent(pipeline: Pipeline) -> AssetCheckResult:
    passed, metadata = _health(pipeline)
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.WARN, metadata=metadata)


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Reports the live watcher's heartbeat check every minute, without a run.",
)
def watcher_health_sensor(context: SensorEvaluationContext, pipeline: Pipeline):
    passed, metadata = _health(pipeline)
    (check_key,) = watcher_heartbeat_recent.check_keys
    return SensorResult(
        asset_events=[
            AssetCheckEvaluation(
                asset_key=check_key.asset_key,
                check_name=check_key.name,
                passed=passed,
                severity=AssetCheckSeverity.WARN,
                metadata=metadata,
            )
        ]
    )


def _health(pipeline: Pipeline) -> tuple[bool, dict]:
    """The verdict and its figures, shared by the check and the sensor."""
    with pipeline.store() as engine:
        health = watcher_health(engine, HEARTBEAT_MAX_AGE_S)
    if health.age_s is None:
        return False, {"note": "no watcher has ever run on this database"}
    return health.healthy, {
        "heartbeat_age_s": health.age_s,
        "status": MetadataValue.json(health.status),
    }
