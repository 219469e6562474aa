"""`polygon-pipeline doctor`: check the config, the database, the shared budgets, the RPC
(through the governed client, like every RPC call) and the WebSocket, one clear line per
check; exit non-zero on any problem. No line shows a secret, whatever a provider answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from polygon_pipeline.logging_setup import configure_logging
from polygon_pipeline.quoting import MESSAGE_CHARS, cut
from polygon_pipeline.redact import redact_db_url, redact_url, scrub

if TYPE_CHECKING:
    from polygon_pipeline.settings import Settings


def _shown(url: object) -> str:
    return redact_url(url.get_secret_value()) if url else "-"


@click.command()
def doctor() -> None:
    """Check configuration, database, shared budgets, RPC and WebSocket; exit 1 on any
    problem."""
    from polygon_pipeline.cli.doctor_checks import check_db, check_limiter, check_rpc, check_ws
    from polygon_pipeline.settings import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        click.echo(f"FAIL config: {cut(str(exc), MESSAGE_CHARS)}")
        raise SystemExit(1) from None
    configure_logging(settings, logging.ERROR)  # the retries' lines: one line per check here
    checks: list[tuple[str, str, Callable[[Settings], str]]] = [
        ("db", redact_db_url(settings.database_url), check_db),
        ("limiter", "shared budgets", check_limiter),
        ("rpc", _shown(settings.rpc_url), check_rpc),
        ("ws", _shown(settings.ws_url), check_ws),
    ]
    click.echo("ok   config")
    failed = 0
    for name, where, check in checks:
        try:
            click.echo(f"ok   {name:<7} {where}: {check(settings)}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, in one line
            failed += 1
            reason = scrub(f"{type(exc).__name__}: {exc}", settings.secret_values())
            click.echo(f"FAIL {name:<7} {where}: {cut(reason.splitlines()[0], MESSAGE_CHARS)}")
    if failed:
        raise SystemExit(1)
