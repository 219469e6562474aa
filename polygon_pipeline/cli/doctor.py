"""`polygon-pipeline doctor`: check the config, the database, the shared budgets, the RPC
(through the governed client, like every RPC call) and the WebSocket, one clear line per
check; exit non-zero on any problem. No line shows a secret, whatever a provider answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import click

from polygon_pipeline.logging_setup import configure_logging
from polygon_pipeline.quoting import MESSAGE_CHARS, cut
from polygon_pipeline.redact import provider_labels, redact_db_url, scrub

if TYPE_CHECKING:
    from polygon_pipeline.settings import Settings


def _each(urls: list[str]) -> list[tuple[str | None, str]]:
    """(URL, label) of each provider; one unnamed entry when none is set (its check says
    which variable is missing)."""
    return list(zip(urls, provider_labels(urls), strict=True)) or [(None, "-")]


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
        # one line per provider, named by its label (redact.provider_labels)
        *(
            ("rpc", label, partial(check_rpc, label=label))
            for label in provider_labels(settings.rpc_url_list) or ["-"]
        ),
        *(("ws", label, partial(check_ws, url=url)) for url, label in _each(settings.ws_url_list)),
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
