"""`polygon-pipeline leaders add|remove|list|import`."""

from __future__ import annotations

from pathlib import Path

import click

from polygon_pipeline.chain.addresses import InvalidAddress
from polygon_pipeline.cli.common import one_line_errors, settings_or_exit, store_engine
from polygon_pipeline.store import leaders_repo


@click.group()
def leaders() -> None:
    """Manage the leader wallets to follow (stored lowercase in the database)."""


@leaders.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--label", help="A note stored with the new leaders.")
@one_line_errors(InvalidAddress)
def add(addresses: tuple[str, ...], label: str | None) -> None:
    """Add ADDRESSES; if any is invalid, none is added."""
    with store_engine(settings_or_exit()).begin() as conn:
        added = leaders_repo.add_leaders(conn, addresses, label)
    click.echo(f"added {added} leader(s) ({len(set(addresses)) - added} already present)")


@leaders.command()
@click.argument("addresses", nargs=-1, required=True)
@one_line_errors(InvalidAddress)
def remove(addresses: tuple[str, ...]) -> None:
    """Stop following ADDRESSES."""
    with store_engine(settings_or_exit()).begin() as conn:
        removed = leaders_repo.remove_leaders(conn, addresses)
    click.echo(f"removed {removed} leader(s)")


@leaders.command("list")
def list_() -> None:
    """Print the leaders, one a line."""
    with store_engine(settings_or_exit()).connect() as conn:
        for address in leaders_repo.list_leaders(conn):
            click.echo(address)


@leaders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@one_line_errors(InvalidAddress)
def import_(file: Path) -> None:
    """Add every address in FILE (one a line, or CSV with the address first; # comments).
    The whole file is checked first: one bad line and nothing is added."""
    addresses = leaders_repo.read_leader_file(file.read_text())
    with store_engine(settings_or_exit()).begin() as conn:
        added = leaders_repo.add_leaders(conn, addresses)
    click.echo(f"imported {len(addresses)} address(es) from {file}: {added} new")
