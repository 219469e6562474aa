"""`polygon-pipeline windows register`: Dagster block windows in bulk, ascending from the
origin."""

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
@click.option("--to-block", type=BLOCK_NUMBER, help="Last block (default: the finalized head).")
def register(to_block: int | None) -> None:
    """Register every whole window after the newest registered one (from the origin, the first
    venue's window) up to --to-block, without waiting for the sensor, which does the same on
    every tick. Then a year of history is one backfill over a range in the UI (Materialize
    -> Launch backfill). Malformed keys found registered are deleted."""
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
    from dagster import DagsterInstance

    from polygon_pipeline.sync.window_keys import register_through, window_origin

    origin = window_origin(settings)
    with DagsterInstance.get() as instance:
        registered = register_through(instance, origin, settings.partition_window_blocks, to_block)
    click.echo(
        f"{registered.summary()} (blocks {origin} to {to_block}, "
        f"{settings.partition_window_blocks} blocks each)"
    )
