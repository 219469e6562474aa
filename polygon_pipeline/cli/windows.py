"""`polygon-pipeline windows register`: Dagster block windows in bulk, in ascending order."""

from __future__ import annotations

import os

import click

from polygon_pipeline.cli.common import (
    BLOCK_NUMBER,
    one_line,
    settings_or_exit,
    stop_on_signals,
    sync_context,
)
from polygon_pipeline.provider_errors import ProviderError


@click.group()
def windows() -> None:
    """Block windows: the partitions of `leader_fills` in Dagster (DAGSTER_HOME's instance)."""


@windows.command()
@click.option("--from-block", type=BLOCK_NUMBER, required=True, help="First block.")
@click.option("--to-block", type=BLOCK_NUMBER, help="Last block (default: the finalized head).")
def register(from_block: int, to_block: int | None) -> None:
    """Register every whole window from the one holding --from-block up to --to-block, so a
    year of history is one backfill over a range in the UI (Materialize -> Launch
    backfill). Windows are kept in ascending order, older ones included (moving newer ones
    behind them, refused while windows are being reconciled); malformed keys are deleted."""
    if not os.environ.get("DAGSTER_HOME"):
        raise click.ClickException(
            "DAGSTER_HOME is not set: which Dagster instance to register in?"
        )
    settings = settings_or_exit()
    if to_block is None:
        from polygon_pipeline.sync.head import finalized_head

        stopping = stop_on_signals("no window registered")
        with stopping, sync_context(settings) as ctx, one_line(ProviderError):
            to_block = finalized_head(ctx.rpc, settings.confirmation_blocks)
    if to_block < from_block:
        raise click.UsageError(f"--to-block {to_block} is below --from-block {from_block}")
    from dagster import DagsterInstance

    from polygon_pipeline.defs.fills.partitions import (
        ReorderRefused,
        register_windows,
        windows_between,
    )

    keys = windows_between(from_block, to_block, settings.partition_window_blocks)
    with DagsterInstance.get() as instance:
        try:
            registered = register_windows(instance, keys)
        except ReorderRefused as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"{registered.summary()} (of {len(keys)} between blocks {from_block} and {to_block}, "
        f"{settings.partition_window_blocks} blocks each)"
    )
