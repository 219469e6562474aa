"""doctor's checks, one per part: each returns what it found or raises naming the problem.
Imported when doctor runs (they need the store, the governed client and websockets)."""

from __future__ import annotations

import json
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from websockets.sync.client import connect as ws_connect

from polygon_pipeline.chain.exchanges import EXCHANGES, POLYGON_CHAIN_ID
from polygon_pipeline.redact import redact_db_url, scrub
from polygon_pipeline.settings import Settings
from polygon_pipeline.store.coverage_repo import format_spans, venue_holes
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
            partial = venue_holes(conn, EXCHANGES, settings.venues, 0)
    finally:
        engine.dispose()
    if count == 0:
        raise ValueError("reachable, but no leaders configured (polygon-pipeline leaders add ...)")
    if partial:
        more = f" and {len(partial) - 3} more" if len(partial) > 3 else ""
        raise ValueError(
            f"blocks {format_spans(partial[:3])}{more} were stored without querying every venue "
            "that trades there (an older release, or a corrected POLYGON_VENUE_BLOCKS): run "
            "`polygon-pipeline backfill --since-cursor`"
        )
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


def check_rpc(settings: Settings, label: str = "-") -> str:
    """The provider `label` (of POLYGON_RPC_URLS), through its own shared budget."""
    try:
        ctx = SyncContext.from_settings(
            settings, guard_chain=False, timeout=TIMEOUT_S, transient_attempts=2
        )
    except DBAPIError:
        raise ValueError("not checked: the shared budget's database is unreachable") from None
    with ctx:
        rpc = ctx.rpc.pinned(label) if len(ctx.rpc.labels()) > 1 else ctx.rpc
        paused = rpc.limiter.cooldown_until() - time.time()
        if paused > PAUSE_PATIENCE_S:
            raise ValueError(f"not checked: every process is paused {paused:.0f}s more")
        here = provider_identity(rpc)
        store = compare_with_store(ctx.engine, here, redact_db_url(settings.database_url))
        return f"{_check_chain(here.chain_id)}, {store}"


def check_ws(settings: Settings, url: str | None = None) -> str:
    url = url or settings.require_ws_url()
    with ws_connect(url, open_timeout=TIMEOUT_S, close_timeout=2) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
        answer = json.loads(ws.recv(timeout=TIMEOUT_S))
    if not isinstance(answer, dict) or "result" not in answer:
        shown = scrub(str(answer), settings.secret_values())[:120]  # a provider may echo the key
        raise ValueError(f"not a JSON-RPC answer: {shown}")
    return _check_chain(int(answer["result"], 16))
