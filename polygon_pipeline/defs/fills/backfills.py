"""Cells of one backfill queried together: Dagster splits a backfill of the exchange x window
grid into a run per exchange (for a grid wider than tall, `DefaultPartitionsSubset.
get_partition_key_ranges` groups by the dimension with fewer keys), each of which would
query the same windows again. Instead the first run of the backfill to reach a window
reconciles every cell of it that the backfill targets, in one filter, and reports them all;
the backfill's later runs find their cells materialized since the backfill was launched and
query nothing. dagster.yaml runs one run of a backfill at a time, so no two of them query
the same window at once."""

from __future__ import annotations

from dagster import AssetExecutionContext, AssetRecordsFilter

BACKFILL_TAG = "dagster/backfill"


def backfill_cells(context: AssetExecutionContext, windows: set[str]) -> tuple[set[str], set[str]]:
    """Of the grid keys in `windows` that this run's backfill targets: those not materialized
    since it was launched (to reconcile now), and those that were (by an earlier run of
    it). Both empty when the run is not part of an asset backfill."""
    backfill_id = context.run.tags.get(BACKFILL_TAG)
    backfill = context.instance.get_backfill(backfill_id) if backfill_id else None
    if backfill is None or not backfill.is_asset_backfill:
        return set(), set()
    data = backfill.get_asset_backfill_data(context.repository_def.asset_graph)
    targeted = data.target_subset.get_partitions_subset(context.asset_key).get_partition_keys()
    wanted = {str(k) for k in targeted if str(k).partition("|")[2] in windows}
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=context.asset_key,
            asset_partitions=sorted(wanted),
            after_timestamp=backfill.backfill_timestamp,
        ),
        limit=max(1, len(wanted)) * 4,
    ).records
    done = {r.partition_key for r in records if r.partition_key} & wanted
    return wanted - done, done
