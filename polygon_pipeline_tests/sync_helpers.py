"""Building a real SyncContext (settings from the environment) against the test devnet."""

from __future__ import annotations

import os


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
