"""The watcher's local HTTP endpoints: GET /healthz (200 only when live) and GET /metrics."""

from __future__ import annotations

from aiohttp import web

from polygon_pipeline.sync.watcher_status import WatcherStatus


class HealthServerError(RuntimeError):
    """The endpoints cannot listen where the settings say (a bad host, a port in use)."""


async def start_health_server(status: WatcherStatus, host: str, port: int) -> web.AppRunner:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response(status.as_json(), status=200 if status.healthy() else 503)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(text=status.prometheus(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:  # socket.gaierror included: a host name that does not resolve
        await runner.cleanup()
        raise HealthServerError(
            f"POLYGON_WATCH_HEALTH_HOST/_PORT: cannot listen on {host}:{port} "
            f"({exc.strerror or exc})"
        ) from None
    return runner


def bound_port(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]
