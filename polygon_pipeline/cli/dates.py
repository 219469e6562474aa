"""History asked for by date: the option type (UTC) and the block it starts at."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from polygon_pipeline.chain.rpc_client import GovernedRpc

UTC_DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])


def block_at_date(rpc: GovernedRpc, when: datetime, option: str) -> int:
    """The first block at or after `when` (UTC), said on a line with the calls it took; a
    moment after the head is a one-line error naming the head's time."""
    from polygon_pipeline.chain.block_at_time import AfterHead, first_block_at_time

    try:
        block, calls = first_block_at_time(rpc, when)
    except AfterHead as exc:
        raise click.ClickException(f"{option}: {exc}") from None
    click.echo(f"{option} {when:%Y-%m-%d %H:%M:%S} UTC: block {block} ({calls} header calls)")
    return block
