"""`polygon-pipeline doctor`: check the config and reach the RPC, the WebSocket and the database,
one clear line per check; exit non-zero on any problem."""

from __future__ import annotations

import json
from collections.abc import Callable

import click
import requests
from sqlalchemy import text
from websockets.sync.client import connect as ws_connect

from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID
from polygon_pipeline.redact import redact_db_url, redact_url, scrub
from polygon_pipeline.settings import ConfigError, Settings, load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import list_leaders

TIMEOUT_S = 10


def _chain_id_answer(payload: object) -> int:
    if not isinstance(payload, dict) or "result" not in payload:
        raise ValueError(f"not a JSON-RPC answer: {str(payload)[:120]}")
    return int(payload["result"], 16)


def _check_chain(chain_id: int) -> str:
    if chain_id != POLYGON_CHAIN_ID:
        raise ValueError(f"chain id {chain_id}, expected {POLYGON_CHAIN_ID} (Polygon PoS)")
    return f"chain id {chain_id}"


def check_rpc(settings: Settings) -> str:
    url = settings.require_rpc_url()
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    resp = requests.post(url, json=body, timeout=TIMEOUT_S)
    if resp.status_code != 200:
        raise ValueError(f"HTTP {resp.status_code}")
    return _check_chain(_chain_id_answer(resp.json()))


def check_ws(settings: Settings) -> str:
    url = settings.require_ws_url()
    with ws_connect(url, open_timeout=TIMEOUT_S, close_timeout=2) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
        return _check_chain(_chain_id_answer(json.loads(ws.recv(timeout=TIMEOUT_S))))


def check_db(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        count = len(list_leaders(conn))
    engine.dispose()
    if count == 0:
        raise ValueError("reachable, but no leaders configured (polygon-pipeline leaders add ...)")
    return f"{count} leader(s)"


@click.command()
def doctor() -> None:
    """Check configuration, RPC, WebSocket and database; exit 1 on any problem."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        click.echo(f"FAIL config: {exc}")
        raise SystemExit(1) from None
    secrets = [settings.rpc_url, settings.ws_url, settings.db_url]
    secret_values = [s.get_secret_value() for s in secrets if s is not None]
    checks: list[tuple[str, str, Callable[[Settings], str]]] = [
        (
            "rpc",
            redact_url(settings.rpc_url.get_secret_value()) if settings.rpc_url else "-",
            check_rpc,
        ),
        (
            "ws",
            redact_url(settings.ws_url.get_secret_value()) if settings.ws_url else "-",
            check_ws,
        ),
        ("db", redact_db_url(settings.database_url), check_db),
    ]
    click.echo("ok   config")
    failed = 0
    for name, where, check in checks:
        try:
            click.echo(f"ok   {name:<6} {where}: {check(settings)}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, in one line
            failed += 1
            reason = scrub(f"{type(exc).__name__}: {exc}", secret_values).splitlines()[0]
            click.echo(f"FAIL {name:<6} {where}: {reason}")
    if failed:
        raise SystemExit(1)
