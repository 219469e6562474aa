"""window_exports: the fills and leader trades of one block window as Parquet files under
POLYGON_EXPORT_DIR (sync/exports.py), for DuckDB, polars or pandas.

Kept apart from leader_fills' partitioning on purpose: it follows the block windows, and
takes its window's blocks from the key alone."""

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    asset,
)

from polygon_pipeline.defs.fills.partitions import WINDOW_DIM, window_partitions
from polygon_pipeline.defs.policies import GROUP
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.exports import export_window
from polygon_pipeline.sync.window_keys import parse_window


@asset(
    partitions_def=window_partitions,
    # a window's export follows its leader_fills cells, whichever exchange's
    deps=[
        AssetDep(
            "leader_fills", partition_mapping=MultiToSingleDimensionPartitionMapping(WINDOW_DIM)
        ),
        AssetKey("markets"),
    ],
    # A window's files once its fills are stored (and again if they are reconciled again):
    # one run per window, as leader_fills has; the markets named in them are the latest.
    automation_condition=AutomationCondition.eager(),
    group_name=GROUP,
    kinds={"parquet"},
    description="A block window's fills and leader trades as Parquet "
    "(POLYGON_EXPORT_DIR/{fills,trades}/window=KEY/*.parquet): uint256 values as decimal "
    "text, sizes and notionals as decimal128, times in UTC.",
)
def window_exports(context: AssetExecutionContext, pipeline: Pipeline) -> MaterializeResult:
    lo, hi = parse_window(context.partition_key)
    export_dir = pipeline.settings().export_dir
    with pipeline.store() as engine:
        export = export_window(engine, export_dir, context.partition_key, lo, hi)
    return MaterializeResult(
        metadata={
            "fills": export.fills,
            "trades": export.trades,
            "fills_path": MetadataValue.path(str(export.fills_path)),
            "trades_path": MetadataValue.path(str(export.trades_path)),
        }
    )
