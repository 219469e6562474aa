"""`polygon-pipeline watch`: the long-running live watcher (run it beside Dagster)."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from polygon_pipeline.chain.rpc_errors import RpcError
from polygon_pipeline.cli.common import settings_or_exit
from polygon_pipeline.logging_setup import configure_logging
from polygon_pipeline.settings import ConfigError
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.health_server import bound_port, start_health_server
from polygon_pipeline.sync.watcher import LeaseLost, Watcher

log = logging.getLogger("polygon_pipeline.watch")


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def watch(verbose: bool) -> None:
    """Write leader fills from WebSocket subscriptions as they happen; gap-fill after drops.
    Only one runs per database: a second one waits and takes over when the first dies."""
    settings = settings_or_exit()
    configure_logging(settings, logging.DEBUG if verbose else logging.INFO)
    try:
        settings.require_ws_url()
        ctx = SyncContext.from_settings(settings)
    except (ConfigError, RpcError) as exc:
        raise click.ClickException(str(exc)) from None
    from polygon_pipeline.defs.live_feed import LiveFeedReporter

    try:
        asyncio.run(_serve(Watcher(ctx, on_report=LiveFeedReporter.from_environment())))
    except LeaseLost as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        ctx.close()


async def _serve(watcher: Watcher) -> None:
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
