"""API mode from the command line: `api-poll` (the Data API poller) and `compare`."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from polygon_pipeline.cli.common import one_line, settings_or_exit, stop_on_signals, store_engine
from polygon_pipeline.logging_setup import configure_logging
from polygon_pipeline.provider_errors import ProviderError
from polygon_pipeline.quoting import quoted

if TYPE_CHECKING:
    from polygon_pipeline.sync.api_poller import PollReport

log = logging.getLogger("polygon_pipeline.api_poll")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@click.command("api-poll")
@click.option("--once", is_flag=True, help="Poll every leader once and exit.")
def api_poll(once: bool) -> None:
    """Poll each leader's trades from the Data API (POLYGON_DATA_API_URL) into `api_trades`,
    every POLYGON_DATA_API_POLL_S seconds, under its own shared budget. Never calls the RPC.
    With DAGSTER_HOME set, each poll that stored trades is reported to that Dagster instance
    (a runless materialization of `api_trades`, at most once a minute)."""
    from polygon_pipeline.sync.api_poller import poll_once, run_poller
    from polygon_pipeline.sync.context import ApiContext

    settings = settings_or_exit()
    configure_logging(settings, logging.INFO)
    kept = "the trades stored so far are kept"
    with stop_on_signals(f"{kept}; rerun to finish" if once else kept, daemon=not once):
        reports = _Reports()
        with ApiContext.from_settings(settings) as api, one_line(ProviderError):
            if once:
                report = poll_once(api)
                reports(report)
                click.echo(_describe(report))
                return

            def on_report(report: PollReport) -> None:
                reports(report)
                log.info(_describe(report))

            run_poller(api, on_report)


class _Reports:
    """Each poll's trades, reported to the Dagster instance DAGSTER_HOME names, if any."""

    def __init__(self) -> None:
        from polygon_pipeline.sync.dagster_reports import (
            API_TRADES,
            RunlessReporter,
            reporting_instance,
        )

        instance = reporting_instance()
        self.total = 0
        self.dagster = instance and RunlessReporter(
            instance, API_TRADES, "trades written by `polygon-pipeline api-poll`"
        )

    def __call__(self, report: PollReport) -> None:
        self.total += report.new_trades
        if self.dagster:
            last = {"leaders": report.leaders, "pages": report.pages, "429s": report.throttles}
            metadata = {f"last_poll_{k}": v for k, v in last.items()}
            self.dagster.report(self.total, "trades", metadata)


def _describe(report: PollReport) -> str:
    return (
        f"polled {report.leaders} leaders: {report.new_trades} new trades, "
        f"{report.pages} pages, {report.throttles} throttled, {report.seconds:.1f}s"
    )


def parse_since(value: str) -> datetime:
    """`30m`, `2h`, `7d` (ago) or an ISO timestamp (UTC if no zone)."""
    found = _DURATION.match(value.strip())
    try:
        if found:
            return datetime.now(tz=UTC) - timedelta(**{_UNITS[found[2]]: int(found[1])})
        moment = datetime.fromisoformat(value)
    except OverflowError:
        raise click.BadParameter(f"{quoted(value)}: reaches before the year 1") from None
    except ValueError:
        raise click.BadParameter(
            f"{quoted(value)}: give a duration like 30m, 2h, 7d or an ISO time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option(
    "--since",
    default="24h",
    show_default=True,
    help="Trades from this long ago (30m, 2h, 7d) or an ISO time.",
)
def compare(since: str) -> None:
    """Compare the chain feed with the Data API from what both stored: matched, missed by
    either, and detection latency. Makes no RPC and no API calls."""
    from polygon_pipeline.sync.compare import compare_sources

    engine = store_engine(settings_or_exit())
    try:
        result = compare_sources(engine, parse_since(since))
    finally:
        engine.dispose()
    click.echo(result.markdown())
