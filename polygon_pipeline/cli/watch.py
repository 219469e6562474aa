"""`polygon-pipeline watch`: the long-running live watcher (run it beside Dagster)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from polygon_pipeline.cli.common import one_line, settings_or_exit, sync_context
from polygon_pipeline.logging_setup import configure_logging

if TYPE_CHECKING:
    from polygon_pipeline.sync.watcher import Watcher
    from polygon_pipeline.sync.watcher_status import WatcherStatus

log = logging.getLogger("polygon_pipeline.watch")


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def watch(verbose: bool) -> None:
    """Write leader fills from WebSocket subscriptions as they happen; gap-fill after drops.
    Only one runs per database: a second one waits and takes over when the first dies."""
    import asyncio

    from polygon_pipeline.settings import ConfigError
    from polygon_pipeline.sync.health_server import HealthServerError
    from polygon_pipeline.sync.watcher import Watcher

    settings = settings_or_exit()
    configure_logging(settings, logging.DEBUG if verbose else logging.INFO)
    with one_line(ConfigError):
        settings.require_ws_url()
    with sync_context(settings) as ctx, one_line(HealthServerError):
        asyncio.run(_serve(Watcher(ctx, on_report=_dagster_reporter())))


def _dagster_reporter() -> Callable[[WatcherStatus], None] | None:
    """Reports to the Dagster instance DAGSTER_HOME names, if any."""
    from polygon_pipeline.sync.dagster_reports import reporting_instance

    instance = reporting_instance()
    if instance is None:
        return None
    from polygon_pipeline.sync.live_feed_report import LiveFeedReporter

    return LiveFeedReporter(instance)


async def _serve(watcher: Watcher) -> None:
    import asyncio

    from polygon_pipeline.sync.health_server import bound_port, start_health_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settings = watcher.settings
    health = await start_health_server(
        watcher.status, settings.watch_health_host, settings.watch_health_port
    )
    log.info(
        "health on http://%s:%d/healthz and /metrics",
        settings.watch_health_host,
        bound_port(health),
    )
    try:
        await watcher.run(stop)
    finally:
        await health.cleanup()
        log.info("watcher stopped")
