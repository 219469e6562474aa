"""`markets sync` (what each traded token is, from Gamma) and `trades` (a leader's trades a
person can read, as a table, CSV, JSON or Parquet)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from polygon_pipeline.cli.api_mode import parse_since
from polygon_pipeline.cli.common import (
    BLOCK_NUMBER,
    one_line,
    settings_or_exit,
    stop_on_signals,
    store_engine,
)
from polygon_pipeline.logging_setup import configure_logging
from polygon_pipeline.provider_errors import ProviderError

FORMATS = ("table", "csv", "json", "parquet")


@click.group()
def markets() -> None:
    """What each traded token is: question, outcome, event (Polymarket's Gamma API)."""


@markets.command("sync")
def markets_sync() -> None:
    """Look up every token id of a stored trade not known yet, and refresh open markets, in
    batches under POLYGON_GAMMA_MAX_RPS. Ids Gamma does not know are tried again later."""
    from polygon_pipeline.sync.context import GammaContext
    from polygon_pipeline.sync.markets import sync_markets

    settings = settings_or_exit()
    configure_logging(settings, logging.WARNING)
    with (
        stop_on_signals("the markets looked up so far are stored"),
        one_line(ProviderError),
        GammaContext.from_settings(settings) as ctx,
    ):
        click.echo(sync_markets(ctx).summary())


@click.command()
@click.option("--leader", help="Only this leader's trades (an address).")
@click.option("--since", help="Trades from this long ago (30m, 2h, 7d) or an ISO time.")
@click.option("--from-block", type=BLOCK_NUMBER, help="Trades from this block on.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
def trades(
    leader: str | None, since: str | None, from_block: int | None, fmt: str, out: Path | None
) -> None:
    """Every leader order fill (the leader is the maker), oldest first, with its market and
    outcome (empty until `markets sync` knows them). Reads the store only."""
    from polygon_pipeline.chain.addresses import normalize_address
    from polygon_pipeline.sync.trade_output import render
    from polygon_pipeline.sync.trades import TradeFilter, leader_trades

    if since and from_block is not None:
        raise click.UsageError("give --since or --from-block, not both")
    if fmt == "parquet" and out is None:
        raise click.UsageError("--format parquet needs --out FILE")
    try:
        wanted = normalize_address(leader) if leader else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--leader") from None
    which = TradeFilter(wanted, parse_since(since) if since else None, from_block)
    engine = store_engine(settings_or_exit())
    try:
        records = leader_trades(engine, which)
    finally:
        engine.dispose()
    if fmt == "parquet":
        from polygon_pipeline.sync.exports import trades_table, write_parquet

        write_parquet(trades_table(records), out)
        click.echo(f"{len(records)} trades written to {out}", err=True)
        return
    text = render(records, fmt)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        click.echo(f"{len(records)} trades written to {out}", err=True)
