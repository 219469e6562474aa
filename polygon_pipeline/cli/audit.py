"""`polygon-pipeline audit`: re-read closed windows from a second provider and repair what
the first one left out (sync/audit.py)."""

from __future__ import annotations

import click

from polygon_pipeline.cli.common import BLOCK_NUMBER, one_line, settings_or_exit, sync_context
from polygon_pipeline.provider_errors import ProviderError


@click.command()
@click.option("--from-block", type=BLOCK_NUMBER, required=True, help="First block.")
@click.option("--to-block", type=BLOCK_NUMBER, help="Last block (default: the finalized head).")
@click.option(
    "--share",
    type=click.FloatRange(0, 1),
    help="Share of windows to audit (default: POLYGON_AUDIT_SHARE).",
)
def audit(from_block: int, to_block: int | None, share: float | None) -> None:
    """Audit every closed block window of the range: read it again from another provider
    than the one that filled it (POLYGON_RPC_URLS), compare the leader fills, write what the
    store lacked, and say so. Exit 1 when a window differed (it is repaired)."""
    from polygon_pipeline.sync.audit import audit as run_audit
    from polygon_pipeline.sync.reconcile import NothingToFollow

    settings = settings_or_exit()
    if to_block is not None and to_block < from_block:
        raise click.UsageError(f"--to-block {to_block} is below --from-block {from_block}")
    with sync_context(settings) as ctx, one_line(ProviderError, NothingToFollow):
        report = run_audit(ctx, from_block, to_block or 2**62, share)
    for window in report.windows:
        lo, hi = window.blocks
        who = f"filled by {','.join(window.filled_by)}"
        by = f", audited by {window.audited_by}" if window.audited_by else ""
        click.echo(f"blocks {lo}..{hi} ({who}{by}): {window.result}")
        for tx_hash, log_index in ((k[1], k[2]) for k in window.missing):
            click.echo(f"  missing: {tx_hash}:{log_index}")
    click.echo(report.summary())
    if any(not w.skipped and not w.agreed for w in report.windows):
        raise SystemExit(1)
