"""`positions`: each leader's positions and PnL from the chain (docs/positions.md)."""

from __future__ import annotations

import sys

import click

from polygon_pipeline.cli.common import one_line, settings_or_exit, store_engine


@click.command()
@click.option("--leader", help="Only this leader's positions (an address).")
@click.option(
    "--prices/--no-prices", default=False, show_default=True,
    help="Ask the CLOB for the midpoint of each open position (POLYGON_CLOB_MAX_RPS).",
)  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table",
    show_default=True,
)  # fmt: skip
def positions(leader: str | None, prices: bool, fmt: str) -> None:
    """Every followed leader's positions: exact size from the ledgers' transfers, average
    cost and realized PnL by the pnl-subgraph's rules, unrealized PnL at the payout once
    resolved (after `markets sync` and a positions run) or, with --prices, the CLOB
    midpoint. Otherwise reads the store only."""
    from polygon_pipeline.chain.addresses import normalize_address
    from polygon_pipeline.sync.position_output import render_positions
    from polygon_pipeline.sync.positions import all_positions

    try:
        wanted = [normalize_address(leader)] if leader else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--leader") from None
    settings = settings_or_exit()
    if prices:
        from polygon_pipeline.provider_errors import ProviderError
        from polygon_pipeline.sync.context import ClobContext

        with one_line(ProviderError), ClobContext.from_settings(settings) as clob:
            found = all_positions(clob.engine, wanted, prices=clob)
    else:
        engine = store_engine(settings)
        try:
            found = all_positions(engine, wanted)
        finally:
            engine.dispose()
    sys.stdout.write(render_positions(found, fmt))
