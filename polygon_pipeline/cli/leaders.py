"""`polygon-pipeline leaders add|remove|list|import`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from polygon_pipeline.chain.addresses import InvalidAddress
from polygon_pipeline.cli.common import (
    BLOCK_NUMBER,
    block_progress,
    one_line,
    settings_or_exit,
    stop_on_signals,
    store_engine,
    sync_context,
)
from polygon_pipeline.cli.dates import UTC_DATE, block_at_date
from polygon_pipeline.provider_errors import ProviderError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from polygon_pipeline.settings import Settings

_from_block = click.option(
    "--history-from-block",
    type=BLOCK_NUMBER,
    help="Then store these leaders' fills from block N up to the exchanges' cursors, querying "
    "only them (default: POLYGON_LEADER_HISTORY_BLOCKS of history, left to the next "
    "reconciliation).",
)
_from_date = click.option(
    "--history-from-date",
    type=UTC_DATE,
    help="As --history-from-block, from the first block at or after this UTC time "
    "(YYYY-MM-DD[THH:MM[:SS]]).",
)


def history_option(command: Callable) -> Callable:
    return _from_block(_from_date(command))


def _history_start(block: int | None, date: datetime | None) -> int | datetime | None:
    """The one history start given (a block or a date), or None."""
    if block is not None and date is not None:
        raise click.UsageError("give --history-from-block or --history-from-date, not both")
    return block if date is None else date


@click.group()
def leaders() -> None:
    """Manage the leader wallets to follow (stored lowercase in the database). Follow the
    address that holds the funds (the proxy wallet or Safe shown on the profile), not the
    key that signs: it is the `maker` of the leader's order fills."""


def _add(addresses: list[str], label: str | None, history_from: int | datetime | None) -> int:
    """Add the leaders (validated as a whole first); with an explicit history start (a
    block or a date), fetch their history now, resuming wherever an earlier attempt
    stopped."""
    settings = settings_or_exit()
    if history_from is None:
        return _store_leaders(store_engine(settings), settings, addresses, label, None)
    from polygon_pipeline.sync.history import backfill_history

    # The provider's chain is checked against the store's before anything is written.
    stopping = stop_on_signals(
        "what was committed is kept (the leaders once added, their history chunks once "
        "stored); rerun the command to finish"
    )
    with stopping, sync_context(settings) as ctx, one_line(ProviderError):
        if isinstance(history_from, datetime):
            history_from = block_at_date(ctx.rpc, history_from, "--history-from-date")
        added = _store_leaders(ctx.engine, settings, addresses, label, history_from)
        with block_progress("leader history") as progress:
            report = backfill_history(ctx, addresses, on_progress=progress)
        click.echo(report.summary())
    return added


def _store_leaders(
    engine: Engine,
    settings: Settings,
    addresses: list[str],
    label: str | None,
    history_from_block: int | None,
) -> int:
    from polygon_pipeline.store import leaders_repo

    with engine.begin() as conn:
        default = leaders_repo.default_history_start(conn, settings.leader_history_blocks)
        added = leaders_repo.add_leaders(conn, addresses, label, default)
        if history_from_block is not None:
            leaders_repo.want_history(conn, addresses, history_from_block)
    return added


@leaders.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--label", help="A note stored with the new leaders.")
@history_option
@one_line(InvalidAddress)
def add(
    addresses: tuple[str, ...],
    label: str | None,
    history_from_block: int | None,
    history_from_date: datetime | None,
) -> None:
    """Add ADDRESSES; if any is invalid, none is added."""
    from polygon_pipeline.store.leaders_repo import InvalidLabel

    with one_line(InvalidLabel):
        added = _add(list(addresses), label, _history_start(history_from_block, history_from_date))
    click.echo(f"added {added} leader(s) ({len(set(addresses)) - added} already present)")


@leaders.command()
@click.argument("addresses", nargs=-1, required=True)
@one_line(InvalidAddress)
def remove(addresses: tuple[str, ...]) -> None:
    """Stop following ADDRESSES (their stored fills and coverage stay: adding one again
    fetches nothing already covered)."""
    from polygon_pipeline.store import leaders_repo

    with store_engine(settings_or_exit()).begin() as conn:
        removed = leaders_repo.remove_leaders(conn, addresses)
    click.echo(f"removed {removed} leader(s)")


@leaders.command("list")
@click.option(
    "--stats",
    is_flag=True,
    help="Per leader: fills as maker, the last one's block and time. A leader with none may be "
    "a signing key instead of the wallet that trades.",
)
def list_(stats: bool) -> None:
    """Print the leaders, one a line."""
    from polygon_pipeline.store import leaders_repo

    with store_engine(settings_or_exit()).connect() as conn:
        if not stats:
            for address in leaders_repo.list_leaders(conn):
                click.echo(address)
            return
        click.echo(f"{'leader':<42}  {'fills':>7}  {'last block':>10}  last fill (UTC)")
        for row in leaders_repo.leader_stats(conn):
            last = row["last_time"].strftime("%Y-%m-%d %H:%M:%S") if row["last_time"] else "-"
            block = row["last_block"] if row["last_block"] is not None else "-"
            click.echo(f"{row['address']:<42}  {row['fills_as_maker']:>7}  {block:>10}  {last}")


@leaders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@history_option
@one_line(InvalidAddress)
def import_(file: Path, history_from_block: int | None, history_from_date: datetime | None) -> None:
    """Add every address in FILE (one a line, or CSV with the address first; # comments).
    The whole file is checked first: one bad line and nothing is added."""
    from polygon_pipeline.store import leaders_repo

    start = _history_start(history_from_block, history_from_date)
    addresses = leaders_repo.read_leader_file(leaders_repo.decode_leader_file(file.read_bytes()))
    added = _add(addresses, None, start)
    click.echo(f"imported {len(addresses)} address(es) from {file}: {added} new")
