"""Leader history: a partition per leader, its asset, check, job and sensor."""

from dagster import Definitions

from polygon_pipeline.defs.history.leader_history import (
    leader_histories_complete,
    leader_history,
    leader_history_job,
    leaders_sensor,
)

definitions = Definitions(
    assets=[leader_history],
    asset_checks=[leader_histories_complete],
    jobs=[leader_history_job],
    sensors=[leaders_sensor],
)
