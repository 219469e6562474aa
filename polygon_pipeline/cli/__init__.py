"""The `polygon-pipeline` console script.

It starts at once: its modules import click and light modules only, and each command
imports what it needs (the store, the governed clients, web3, pandas, Dagster) when it runs
(test_cli_start guards it; bench/cli_start.py measures it)."""

from __future__ import annotations

import os
import signal
import sys

import click

from polygon_pipeline.cli.api_mode import api_poll, compare
from polygon_pipeline.cli.audit import audit
from polygon_pipeline.cli.backfill import backfill
from polygon_pipeline.cli.common import (
    database_too_new,
    environment_error,
    environment_failure,
    fail,
)
from polygon_pipeline.cli.demo import demo
from polygon_pipeline.cli.devnet import devnet
from polygon_pipeline.cli.doctor import doctor
from polygon_pipeline.cli.leaders import leaders
from polygon_pipeline.cli.markets import markets, trades
from polygon_pipeline.cli.positions import positions
from polygon_pipeline.cli.watch import watch
from polygon_pipeline.cli.windows import windows
from polygon_pipeline.logging_setup import configure_logging


class PipelineCli(click.Group):
    """Every subcommand reports an unreachable or refusing database (or one a newer release
    wrote), or a file or socket it cannot use, as one line naming the problem, instead of a
    traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly with SIGPIPE's status, as Unix
            # tools do; stdout to /dev/null so the interpreter's last flush says nothing.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(128 + signal.SIGPIPE) from None
        except Exception as exc:
            if database_too_new(exc):
                raise fail(exc) from None
            if not environment_failure(exc):
                raise
            raise click.ClickException(environment_error(exc)) from None


@click.group(cls=PipelineCli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="polygon_pipeline")
def cli() -> None:
    """Every Polymarket leader fill on Polygon, once, fast, provider-friendly."""
    configure_logging()  # every command logs through the scrubber; some raise the level


for command in (
    devnet,
    leaders,
    backfill,
    audit,
    watch,
    windows,
    api_poll,
    compare,
    markets,
    trades,
    positions,
    doctor,
    demo,
):
    cli.add_command(command)


def main() -> None:
    cli()
