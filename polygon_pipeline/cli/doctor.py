"""`polygon-pipeline doctor`: check the config, the database, the shared budgets, the RPC
(through the governed client, like every RPC call) and the WebSocket, one clear line per
check; exit non-zero on any problem. No line shows a secret, whatever a provider answers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import click
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from websockets.sync.client import connect as ws_connect

from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID
from polygon_pipeline.logging_setup import configure_logging
from polygon_pipeline.quoting import MESSAGE_CHARS, cut
from polygon_pipeline.redact import redact_db_url, redact_url, scrub
from polygon_pipeline.settings import ConfigError, Settings, load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.limiter import budget_states
from polygon_pipeline.sync.chain_identity import compare_with_store, provider_identity
from polygon_pipeline.sync.context import SyncContext

TIMEOUT_S = 10
# A throttle's pause longer than this is reported instead of waited out.
PAUSE_PATIENCE_S = 10.0


def _check_chain(chain_id: int) -> str:
    if chain_id != POLYGON_CHAIN_ID:
        raise ValueError(f"chain id {chain_id}, expected {POLYGON_CHAIN_ID} (Polygon PoS)")
    return f"chain id {chain_id}"


def check_db(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            count = len(list_leaders(conn))
    finally:
        engine.dispose()
    if count == 0:
        raise ValueError("reachable, but no leaders configured (polygon-pipeline leaders add ...)")
    return f"{count} leader(s)"


def check_limiter(settings: Settings) -> str:
    """The shared budgets as every process sees them; a state that would freeze everyone
    (a send time or pause beyond anything this release sets) fails."""
    engine = make_engine(settings.database_url, create_schema=False)
    try:
        with engine.connect() as conn:
            states = budget_states(conn, time.time())
    finally:
        engine.dispose()
    shown = "; ".join(s.describe() for s in states) or "no request sent yet"
    if any(s.poisoned for s in states):
        raise ValueError(
            f"{shown}: beyond anything this release sets (an older release or an out-of-range "
            "setting wrote it); the next request resets it"
        )
    return shown


def check_rpc(settings: Settings) -> str:
    try:
        ctx = SyncContext.from_settings(
            settings, guard_chain=False, timeout=TIMEOUT_S, transient_attempts=2
        )
    except DBAPIError:
        raise ValueError("not checked: the shared budget's database is unreachable") from None
    with ctx:
        paused = ctx.rpc.limiter.cooldown_until() - time.time()
        if paused > PAUSE_PATIENCE_S:
            raise ValueError(f"not checked: every process is paused {paused:.0f}s more")
        here = provider_identity(ctx.rpc)
        store = compare_with_store(ctx.engine, here, redact_db_url(settings.database_url))
        return f"{_check_chain(here.chain_id)}, {store}"


def check_ws(settings: Settings) -> str:
    url = settings.require_ws_url()
    with ws_connect(url, open_timeout=TIMEOUT_S, close_timeout=2) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
        answer = json.loads(ws.recv(timeout=TIMEOUT_S))
    if not isinstance(answer, dict) or "result" not in answer:
        shown = scrub(str(answer), settings.secret_values())[:120]  # a provider may echo the key
        raise ValueError(f"not a JSON-RPC answer: {shown}")
    return _check_chain(int(answer["result"], 16))


def _shown(url: object) -> str:
    return redact_url(url.get_secret_value()) if url else "-"


@click.command()
def doctor() -> None:
    """Check configuration, database, shared budgets, RPC and WebSocket; exit 1 on any
    problem."""
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
