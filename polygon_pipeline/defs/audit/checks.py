"""`windows_agree_with_a_second_provider`: in a run of leader_fills' cells of the exchange x
window grid, each window is audited once (sync/audit.py; every exchange at once): re-read
from another provider than the one that filled it, compared, repaired from the union, and
its result shown per window in the metadata."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from polygon_pipeline.defs.fills.partitions import split_cells
from polygon_pipeline.defs.resources import Pipeline
from polygon_pipeline.sync.audit import audit_window


@asset_check(
    asset=AssetKey("leader_fills"),
    description="Each window of the run re-read from a second provider (POLYGON_RPC_URLS; "
    "POLYGON_AUDIT_SHARE of them): fills the provider that filled it left out are written "
    "and fail the check (repaired; the provider is not to be trusted), per window in the "
    "metadata. With one provider, or outside a window run, there is nothing to audit.",
)
def windows_agree_with_a_second_provider(
    context: AssetCheckExecutionContext, pipeline: Pipeline
) -> AssetCheckResult:
    if not (context.has_partition_key or context.has_partition_key_range):
        return AssetCheckResult(
            passed=True, metadata={"note": "audits the windows of a window run"}
        )
    if len(pipeline.settings().rpc_url_list) < 2:  # not a call spent to say so
        return AssetCheckResult(
            passed=True, metadata={"note": "one provider configured: nothing to audit against"}
        )
    cells = split_cells(context.partition_keys)
    windows, bad_keys = cells.windows, cells.bad
    share = pipeline.settings().audit_share
    with pipeline.sync_context() as ctx:
        results = {key: audit_window(ctx, span, share) for key, span in sorted(windows.items())}
    differed = {key: r for key, r in results.items() if not r.skipped and not r.agreed}
    return AssetCheckResult(
        passed=not differed,
        severity=AssetCheckSeverity.WARN,  # repaired already; the provider is suspect
        metadata={
            "windows": MetadataValue.json(
                {
                    key: {
                        "filled_by": r.filled_by,
                        "audited_by": r.audited_by,
                        "result": r.result,
                        "getlogs_calls": r.getlogs_calls,
                    }
                    for key, r in results.items()
                }
            ),
            "missing_fills_written": sum(len(r.missing) for r in results.values()),
            "windows_repaired": len(differed),
            "windows_audited": sum(1 for r in results.values() if not r.skipped),
            "bad_window_keys": MetadataValue.json(bad_keys),
        },
    )
