"""Building a real SyncContext (settings from the environment) against the test devnet."""

from __future__ import annotations

import os

import pytest

from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.context import SyncContext


def leader_fills(truth: list[dict], leaders: set[str]) -> set[tuple[str, int]]:
    """The ground truth's answer: every log with a leader on either side."""
    return {
        (r["tx_hash"], r["log_index"])
        for r in truth
        if r["maker"] in leaders or r["taker"] in leaders
    }


def environment(devnet, db_url: str, **overrides) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYGON_")}
    env.update(
        {
            "POLYGON_RPC_URL": devnet.rpc_url,
            "POLYGON_WS_URL": devnet.ws_url,
            "POLYGON_PIPELINE_DB_URL": db_url,
            "POLYGON_RPC_MAX_RPS": "200",
            "POLYGON_RPC_MAX_CONCURRENCY": "4",
        }
    )
    env.update({f"POLYGON_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


@pytest.fixture
def make_ctx(devnet, db_url, monkeypatch):
    """make_ctx(leaders, **settings) -> SyncContext on the devnet and a fresh database."""
    made: list[SyncContext] = []

    def build(leaders: list[str], **overrides) -> SyncContext:
        for key, value in environment(devnet, db_url, **overrides).items():
            monkeypatch.setenv(key, value)
        for key in [k for k in os.environ if k.startswith("POLYGON_")]:
            if key not in environment(devnet, db_url, **overrides):
                monkeypatch.delenv(key)
        engine = make_engine(db_url)
        with engine.begin() as conn:
            add_leaders(conn, leaders)
        engine.dispose()
        ctx = SyncContext.from_settings(load_settings())
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.close()
