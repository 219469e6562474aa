"""Raw JSON-RPC helpers for tests that examine the provider emulator itself."""

from __future__ import annotations

import requests

from polygon_pipeline.chain.events import LAYOUTS
from polygon_pipeline.chain.exchanges import MAINNET_VENUES


def call(url: str, method: str, params: list | None = None) -> requests.Response:
    return requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=30
    )


def logs_filter(from_block: int, to_block: int) -> dict:
    """Every OrderFilled of every venue and layout in the range."""
    return {
        "address": [v.address for v in MAINNET_VENUES],
        "topics": [[layout.topic0 for layout in LAYOUTS.values()]],
        "fromBlock": hex(from_block),
        "toBlock": hex(to_block),
    }


def get_logs(url: str, from_block: int, to_block: int) -> list[dict]:
    return call(url, "eth_getLogs", [logs_filter(from_block, to_block)]).json()["result"]
