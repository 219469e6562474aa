"""`polygon-pipeline backfill`: reconcile a block range (or from the cursor) from the CLI."""

from __future__ import annotations

import logging
from datetime import datetime

import click

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.cli.common import (
    BLOCK_NUMBER,
    block_progress,
    one_line,
    settings_or_exit,
    stop_on_signals,
    sync_context,
)
from polygon_pipeline.cli.dates import UTC_DATE, block_at_date
from polygon_pipeline.logging_setup import configure_logging
from polygon_pipeline.provider_errors import ProviderError


@click.command()
@click.option(
    "--exchange",
    type=click.Choice([*EXCHANGES, "all"]),
    default="all",
    show_default=True,
    help="Which exchange; `all` covers both in one query per chunk.",
)
@click.option("--from-block", type=BLOCK_NUMBER, help="First block.")
@click.option("--to-block", type=BLOCK_NUMBER, help="Last block (default: finalized head).")
@click.option(
    "--since-cursor",
    is_flag=True,
    help="Start at the exchange cursor less POLYGON_BACKFILL_SAFETY_OVERLAP; then fetch the "
    "history new leaders still miss.",
)
@click.option(
    "--from-date",
    type=UTC_DATE,
    help="First block at or after this UTC time (YYYY-MM-DD[THH:MM[:SS]]), found from block "
    "timestamps with a few header calls.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the chunks, eth_getLogs calls and time at the configured budget and range, "
    "querying no logs.",
)
@click.option(
    "--leaders",
    "leader_count",
    type=click.IntRange(min=1),
    help="With --dry-run: estimate for N leaders instead of the stored ones.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log retries and throttling.")
def backfill(
    exchange: str,
    from_block: int | None,
    to_block: int | None,
    since_cursor: bool,
    from_date: datetime | None,
    dry_run: bool,
    leader_count: int | None,
    verbose: bool,
) -> None:
    """Store every leader fill in a block range: per exchange, never per leader, through the
    shared rate limit. Safe to interrupt and rerun: nothing is lost or doubled."""
    starts = {
        "--from-block": from_block is not None,
        "--from-date": from_date is not None,
        "--since-cursor": since_cursor,
    }
    given = [name for name, chosen in starts.items() if chosen]
    if len(given) != 1:
        also = f" (got {' and '.join(given)})" if given else ""
        raise click.UsageError(
            f"give exactly one of --from-block N, --from-date DATE or --since-cursor{also}"
        )
    if from_block is not None and to_block is not None and to_block < from_block:
        raise click.UsageError(f"--to-block {to_block} is below --from-block {from_block}")
    if leader_count is not None and not dry_run:
        raise click.UsageError("--leaders N only sizes a --dry-run")
    from polygon_pipeline.sync.history import backfill_history
    from polygon_pipeline.sync.reconcile import NothingToFollow, reconcile

    settings = settings_or_exit()
    configure_logging(settings, logging.INFO if verbose else logging.ERROR)
    exchanges = list(EXCHANGES) if exchange == "all" else [exchange]
    if dry_run:
        from polygon_pipeline.cli.dry_run import print_dry_run

        print_dry_run(settings, exchanges, from_block, from_date, to_block, leader_count)
        return
    stopping = stop_on_signals("the chunks stored so far are kept; rerun to finish")
    with stopping, sync_context(settings) as ctx, one_line(NothingToFollow, ProviderError):
        if from_date is not None:
            from_block = block_at_date(ctx.rpc, from_date, "--from-date")
            if to_block is not None and to_block < from_block:
                raise click.ClickException(f"--to-block {to_block} is before that block")
        with block_progress("reconciling") as progress:
            report = reconcile(ctx, exchanges, from_block, to_block, on_progress=progress)
        if report.from_block > report.to_block:  # nothing asked for is final yet
            click.echo(
                f"nothing reconciled: --from-block {report.from_block} is beyond the finalized "
                f"head, block {report.finalized}; rerun once it is final, or run "
                "`polygon-pipeline watch` for live fills"
            )
            return
        click.echo(report.summary())
        if since_cursor:  # leaders added since the last run: their wanted history
            with block_progress("leader history") as progress:
                history = backfill_history(ctx, on_progress=progress)
            if history.leaders:
                click.echo(history.summary())
    if report.requested_to is not None and report.requested_to > report.to_block:
        click.echo(
            f"stopped at the finalized head, block {report.finalized} (asked for "
            f"{report.requested_to}): later blocks can still be reorganized; rerun with "
            "--since-cursor once they are final, or run `polygon-pipeline watch` for live fills"
        )
