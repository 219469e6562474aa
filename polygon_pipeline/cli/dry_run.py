"""`backfill --dry-run`: what a backfill would cost, from the same planning code, without
querying logs. The provider is asked only for what the plan needs: the finalized head
(unless both ends are given as blocks) and the headers of a --from-date search."""

from __future__ import annotations

from datetime import datetime

import click

from polygon_pipeline.chain.exchanges import venues_of
from polygon_pipeline.cli.common import one_line, store_engine
from polygon_pipeline.cli.dates import block_at_date
from polygon_pipeline.provider_errors import ProviderError
from polygon_pipeline.settings import ConfigError, Settings
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.sync.backfill_estimate import describe, estimate
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import backfill_ranges


def print_dry_run(
    settings: Settings,
    exchanges: list[str],
    from_block: int | None,
    from_date: datetime | None,
    to_block: int | None,
    leaders: int | None,
) -> None:
    offline = from_block is not None and to_block is not None
    engine = store_engine(settings)
    try:
        with engine.connect() as conn:
            stored = len(list_leaders(conn))
        count = stored if leaders is None else leaders
        if not count:
            raise click.ClickException(
                "no leaders stored: add some (leaders add) or estimate for --leaders N"
            )
        if offline:
            head, calls = to_block, 0
        else:
            from_block, head, calls = _ask_provider(settings, from_block, from_date)
        with engine.connect() as conn:
            first, last, ranges = backfill_ranges(
                conn, settings, exchanges, head, from_block, to_block
            )
    finally:
        engine.dispose()
    if last < first:
        raise click.ClickException(f"nothing to read: block {first} is above block {last}")
    found = estimate(settings, venues_of(exchanges, settings.venues), ranges, count)
    whose = "stored" if leaders is None else f"--leaders {leaders}; {stored} stored"
    click.echo(
        f"dry run of backfill {'+'.join(exchanges)} blocks {first}..{last} "
        f"({found.blocks:,} blocks) for {count:,} leader(s) ({whose}):"
    )
    for line in describe(found, settings):
        click.echo(f"  {line}")
    if offline:
        click.echo(
            "  assumes the blocks up to --to-block are final: a backfill stops at the "
            "finalized head"
        )
    if from_block is None:
        click.echo(
            "  not counted: the history of leaders added since the last run (fetched after "
            "the catch-up, for those leaders only)"
        )
    if settings.verify_block_hashes:
        click.echo(
            "  not counted: one eth_getBlockByHash per block holding a leader fill, its "
            "check against the node (POLYGON_VERIFY_BLOCK_HASHES; BENCHMARKS 1b)"
        )
    click.echo(f"provider calls made for this estimate: {calls} (no eth_getLogs)")


def _ask_provider(
    settings: Settings, from_block: int | None, from_date: datetime | None
) -> tuple[int | None, int, int]:
    """(first block, finalized head, calls made) through the governed client: the
    --from-date search, then the head."""
    # Writes nothing, so the store's chain is not recorded or checked (doctor checks it).
    with (
        one_line(ConfigError, ProviderError),
        SyncContext.from_settings(settings, guard_chain=False) as ctx,
    ):
        if from_date is not None:
            from_block = block_at_date(ctx.rpc, from_date, "--from-date")
        head = finalized_head(ctx.rpc, settings.confirmation_blocks)
        return from_block, head, sum(ctx.rpc.calls.values())
