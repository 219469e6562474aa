"""`polygon-pipeline backfill`: reconcile a block range (or from the cursor) from the CLI."""

from __future__ import annotations

import logging

import click

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.chain.rpc_errors import RpcError
from polygon_pipeline.cli.common import settings_or_exit
from polygon_pipeline.settings import ConfigError
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.reconcile import NothingToFollow, ReconcileReport, reconcile


@click.command()
@click.option(
    "--exchange",
    type=click.Choice([*EXCHANGES, "all"]),
    default="all",
    show_default=True,
    help="Which exchange; `all` covers both in one query per chunk.",
)
@click.option("--from-block", type=click.IntRange(min=0), help="First block.")
@click.option(
    "--to-block", type=click.IntRange(min=0), help="Last block (default: finalized head)."
)
@click.option(
    "--since-cursor",
    is_flag=True,
    help="Start at the exchange cursor less POLYGON_BACKFILL_SAFETY_OVERLAP.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log retries and throttling.")
def backfill(
    exchange: str,
    from_block: int | None,
    to_block: int | None,
    since_cursor: bool,
    verbose: bool,
) -> None:
    """Store every leader fill in a block range: per exchange, never per leader, through the
    shared rate limit. Safe to interrupt and rerun: nothing is lost or doubled."""
    if (from_block is None) == (not since_cursor):
        raise click.UsageError("give exactly one of --from-block N or --since-cursor")
    if from_block is not None and to_block is not None and to_block < from_block:
        raise click.UsageError(f"--to-block {to_block} is below --from-block {from_block}")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    exchanges = list(EXCHANGES) if exchange == "all" else [exchange]
    settings = settings_or_exit()
    try:
        ctx = SyncContext.from_settings(settings)
    except (ConfigError, RpcError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with click.progressbar(
            length=1, label="reconciling", show_pos=True, item_show_func=_describe
        ) as bar:

            def progress(report: ReconcileReport) -> None:
                bar.length = max(report.blocks_total, 1)
                bar.update(report.blocks_done - bar.pos, report)

            report = reconcile(ctx, exchanges, from_block, to_block, on_progress=progress)
    except (NothingToFollow, RpcError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        ctx.close()
    click.echo(report.summary())
    if report.requested_to is not None and report.requested_to > report.to_block:
        click.echo(
            f"stopped at the finalized head, block {report.finalized} (asked for "
            f"{report.requested_to}): later blocks can still be reorganized; rerun with "
            "--since-cursor once they are final, or run `polygon-pipeline watch` for live fills"
        )


def _describe(report: ReconcileReport | None) -> str:
    if report is None:
        return ""
    return f"fills {report.fills_found}, calls {report.getlogs_calls}, 429s {report.throttles}"
