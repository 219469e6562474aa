"""Raw JSON-RPC helpers for tests that examine the provider emulator itself."""

from __future__ import annotations

import math

import requests

from polygon_pipeline.chain.block_at_time import ITP_SLACK_STEPS
from polygon_pipeline.chain.events import LAYOUTS
from polygon_pipeline.chain.exchanges import MAINNET_VENUES, VENUES


def call(url: str, method: str, params: list | None = None) -> requests.Response:
    return requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=30
    )


def node_block(devnet, tag: str = "latest") -> dict:
    """A block header as the devnet's node itself has it (the ground truth, not through the
    code under test): `tag` a hex number or `latest`."""
    return call(devnet.anvil_url, "eth_getBlockByNumber", [tag, False]).json()["result"]


def logs_filter(from_block: int, to_block: int) -> dict:
    """Every OrderFilled of every venue and layout in the range."""
    return {
        "address": [v.address for v in MAINNET_VENUES if v.events == "fills"],
        "topics": [[layout.topic0 for layout in LAYOUTS.values()]],
        "fromBlock": hex(from_block),
        "toBlock": hex(to_block),
    }


def get_logs(url: str, from_block: int, to_block: int) -> list[dict]:
    return call(url, "eth_getLogs", [logs_filter(from_block, to_block)]).json()["result"]


def order_filled_log(
    venue: str,
    words: list[int],
    order_hash: str = "0x" + "cc" * 32,
    maker: str = "0x" + "11" * 20,
    taker: str = "0x" + "22" * 20,
) -> dict:
    """A raw `OrderFilled` log of `venue`'s layout with these data words, as a node returns
    it (block 16, log index 2)."""
    return {
        "address": VENUES[venue].address,
        "blockNumber": "0x10",
        "blockHash": "0x" + "aa" * 32,
        "transactionHash": "0x" + "bb" * 32,
        "logIndex": "0x2",
        "removed": False,
        "topics": [
            VENUES[venue].layout.topic0,
            order_hash,
            "0x" + maker[2:].rjust(64, "0"),
            "0x" + taker[2:].rjust(64, "0"),
        ],
        "data": "0x" + "".join(f"{w:064x}" for w in words),
    }


def date_search_bound(head: int) -> int:
    """Header calls a date search may take on a chain of `head` blocks: the head, the first
    guess, genesis, and a bisection's steps plus the slack it gives interpolation."""
    return 3 + math.ceil(math.log2(head)) + ITP_SLACK_STEPS
